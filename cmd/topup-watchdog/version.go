package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = ""
	commit  = ""
)

// buildVersion returns the version and commit, from the linker flags or,
// failing those, from the module build information.
func buildVersion() (v, c string) {
	v, c = version, commit
	info, ok := debug.ReadBuildInfo()
	if v == "" {
		v = "dev"
		if ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
	}
	if c == "" && ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				c = s.Value
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return v, c
}

func userAgent() string {
	v, _ := buildVersion()
	return programName + "/" + v
}

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "version", "Prints the version, the commit and the Go version.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	v, c := buildVersion()
	fmt.Fprintf(e.stdout, "%s %s (commit %s, %s)\n", programName, v, c, runtime.Version())
	return nil
}
