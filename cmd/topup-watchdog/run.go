package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
)

// The exit codes of the contract.
const (
	exitOK        = 0
	exitFatal     = 1
	exitBadConfig = 2
)

const (
	programName     = "topup-watchdog"
	usageHeadline   = "usage: topup-watchdog [run|check|demo|sim|backtest|healthcheck|version] [flags]"
	commandOverview = `Commands:
  run          the long-running watchdog (the default)
  check        one balance check: prints the decision it would take, sends nothing
  demo         the watchdog against a simulated account, no Vonage account needed
  sim          a simulated Vonage Account API, for trying the watchdog
  backtest     replays a usage trace through Vonage's auto-reload and both policies
  healthcheck  exits 0 when the running watchdog's /healthz answers 200
  version      version, commit and Go version

Configuration is read from the environment; see the README.
Run 'topup-watchdog COMMAND --help' for a command's flags.`
)

// exitError carries an exit code for an error already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// exitCode maps run's error to the process's exit code.
func exitCode(err error) int {
	var ee exitError
	var ce *config.Errors
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ce):
		return exitBadConfig
	default:
		return exitFatal
	}
}

// command is one of the program's commands.
type command struct {
	name string
	run  func(ctx context.Context, e *env, args []string) error
}

// env is what a command may use of the process: its environment and output.
type env struct {
	lookupenv func(string) (string, bool)
	stdout    io.Writer
	stderr    io.Writer
}

func commands() []command {
	return []command{
		{"run", runWatchdog},
		{"check", runCheck},
		{"demo", runDemo},
		{"sim", runSim},
		{"backtest", runBacktest},
		{"healthcheck", runHealthcheck},
		{"version", runVersion},
	}
}

// run is the whole program. main only maps its error to an exit code, so
// tests drive the real program by calling run.
func run(ctx context.Context, args []string, lookupenv func(string) (string, bool), stdout, stderr io.Writer) error {
	e := &env{lookupenv: lookupenv, stdout: stdout, stderr: stderr}
	name := "run"
	switch {
	case len(args) == 0:
	case args[0] == "help" || isHelpFlag(args[0]):
		return printUsage(stdout)
	case !strings.HasPrefix(args[0], "-"):
		name, args = args[0], args[1:]
	}
	for _, c := range commands() {
		if c.name == name {
			err := c.run(ctx, e, args)
			report(e.stderr, err)
			return err
		}
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n%s\n", programName, name, usageHeadline)
	return exitError{exitBadConfig}
}

func isHelpFlag(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

func printUsage(w io.Writer) error {
	fmt.Fprintf(w, "%s\n\n%s\n", usageHeadline, commandOverview)
	return nil
}

// report prints a command's error for a person: a configuration error one
// problem a line, anything else on one line. Nothing for a clean stop or
// help, nor for an exit already explained.
func report(w io.Writer, err error) {
	var ee exitError
	var ce *config.Errors
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp), errors.As(err, &ee):
	case errors.As(err, &ce):
		fmt.Fprintf(w, "%s: bad configuration:\n", programName)
		for _, p := range ce.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	default:
		fmt.Fprintf(w, "%s: %v\n", programName, err)
	}
}

// newFlags returns a flag set for a command that prints its usage to stderr.
func newFlags(e *env, name, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: %s %s [flags]\n\n%s\n", programName, name, summary)
		if hasFlags(fs) {
			fmt.Fprintln(e.stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseFlags parses args; a bad flag is exit 2, --help exit 0.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return exitError{exitBadConfig}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s %s: unexpected argument %q\n", programName, fs.Name(), fs.Arg(0))
		return exitError{exitBadConfig}
	}
	return nil
}
