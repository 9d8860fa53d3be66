package main

import (
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

// runWithin runs the command in process, cut off after limit; ok is false
// when it was cut off.
func runWithin(t *testing.T, limit time.Duration, args ...string) (code int, stderr string, ok bool) {
	t.Helper()
	return runWithinEnv(t, limit, nil, args...)
}

// runWithinEnv is runWithin with the TOPUP_ variables of env.
func runWithinEnv(t *testing.T, limit time.Duration, env map[string]string, args ...string) (code int, stderr string, ok bool) {
	t.Helper()
	out, errOut := newOutput(), newOutput()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	err := run(ctx, args, lookup(env), out, errOut)
	return exitCode(err), errOut.String(), ctx.Err() == nil
}

// wantRefused fails unless the command finished, exit 2, on one line of
// stderr holding want: no replay's inner error.
func wantRefused(t *testing.T, code int, stderr string, finished bool, want string) {
	t.Helper()
	switch {
	case !finished:
		t.Errorf("still running after 10 s (stderr %q): want it refused at once, exit 2", stderr)
	case code != exitBadConfig || strings.Contains(stderr, "invalid simulated account"):
		t.Errorf("exit %d, stderr %q: want exit 2 with the file and line (or the flag) named", code, stderr)
	case !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1:
		t.Errorf("stderr %q: want one line saying %q", stderr, want)
	}
}

// Hostile traces and settings must be refused (exit 2, naming the file and
// line or the flag), not replayed: a backtest is run by hand and in
// scripts, and one that never ends, or ends with exit 1 and the replay's
// inner error, is a defect. Each case below is a two-row CSV file or a
// flag value that the command once accepted (an outside review's).
func TestBacktestRefusesWhatItCannotReplay(t *testing.T) {
	steady := "2026-03-02T00:01:00Z,1\n2026-03-02T00:02:00Z,1\n2026-03-02T00:03:00Z,1\n"
	for _, c := range []struct {
		name, trace string
		flags       []string
		want        string // in stderr; "trace.csv:" stands for the file's path
	}{
		// More than 292 years apart: the spans overflowed time.Duration and
		// the replay failed with "invalid simulated account", exit 1.
		{"rows centuries apart", "1700-01-01T00:00:00Z,1\n2000-01-01T00:00:00Z,1\n", nil,
			"trace.csv:2: the row at 2000-01-01T00:00:00Z is 300 years after the first (line 1): a trace covers at most 366 days"},
		// Ten years between two rows: 10 million checks per strategy; the
		// command ran for many minutes.
		{"rows a decade apart", "2000-01-01T00:00:00Z,1\n2010-01-01T00:00:00Z,1\n", nil,
			"trace.csv:2: the row at 2010-01-01T00:00:00Z is 10 years after the first (line 1): a trace covers at most 366 days"},
		// A check every nanosecond over three minutes: 1.8e11 checks.
		{"--every 1ns", steady, []string{"--every", "1ns"}, "--every: must be at least 1s, as TOPUP_SCHEDULE's @every: 1ns"},
		// Vonage's check every nanosecond: 1.8e11 iterations.
		{"--vonage-interval 1ns", steady, []string{"--vonage-interval", "1ns"}, "--vonage-interval: must be at least 1s: 1ns"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "trace.csv", c.trace)
			code, stderr, finished := runWithin(t, 10*time.Second, backtestArgs(path, c.flags...)...)
			wantRefused(t, code, stderr, finished, strings.Replace(c.want, "trace.csv:", path+":", 1))
		})
	}
}

// Within the limits but at their edges: a trace of a year (366 days) is
// read, and an interval that would make more than 1,100,000 checks of one
// strategy over it is refused, naming the flag or the variable it came
// from; a longer one given as a flag overrides the variable.
func TestBacktestBoundsTheChecksOfARun(t *testing.T) {
	// Two rows 13 days apart: the replay covers 26 days from one step
	// before the first row, 2,246,400 checks at 1s.
	path := writeFile(t, "trace.csv", "2026-03-01T00:00:00Z,1\n2026-03-14T00:00:00Z,1\n")
	tooMany := " makes 2,246,400 checks over the trace's 26 days (from one step before its first row), more than the 1,100,000 a backtest makes at most (about a year at 30s): give "
	for _, c := range []struct {
		name  string
		env   map[string]string
		flags []string
		want  string
	}{
		{"--every", nil, []string{"--every", "1s"}, "--every: 1s" + tooMany + "a longer --every or a shorter trace"},
		{"--vonage-interval", nil, []string{"--vonage-interval", "1s"}, "--vonage-interval: 1s" + tooMany + "a longer --vonage-interval or a shorter trace"},
		{"TOPUP_SCHEDULE", map[string]string{"TOPUP_SCHEDULE": "@every 1s"}, nil,
			"TOPUP_SCHEDULE: its interval at the trace's start, 1s," + tooMany + "a longer --every or a shorter trace"},
		{"TOPUP_SCHEDULE, a cron spec", map[string]string{"TOPUP_SCHEDULE": "* * * * * *"}, nil,
			"TOPUP_SCHEDULE: its interval at the trace's start, 1s," + tooMany},
		{"below a second", nil, []string{"--every", "999ms"}, "--every: must be at least 1s, as TOPUP_SCHEDULE's @every: 999ms"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stderr, finished := runWithinEnv(t, 10*time.Second, c.env, backtestArgs(path, c.flags...)...)
			wantRefused(t, code, stderr, finished, c.want)
		})
	}
	// --every over the variable: 37,440 checks at 1m, replayed.
	code, stderr, _ := runWithinEnv(t, time.Minute, map[string]string{"TOPUP_SCHEDULE": "@every 1s"}, backtestArgs(path, "--every", "1m", "--json")...)
	if code != exitOK {
		t.Errorf("--every 1m over TOPUP_SCHEDULE=@every 1s: exit %d, %q", code, stderr)
	}
	// A year from the first row, exactly (2024 is a leap year), is read;
	// a second more is refused. At --every 1h the year replays at once.
	year := writeFile(t, "year.csv", "2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,1\n2025-01-01T00:00:00Z,1\n")
	if code, _, stderr := runOnce(t, nil, backtestArgs(year, "--every", "1h", "--vonage-interval", "1h", "--json")...); code != exitOK {
		t.Errorf("a trace of 366 days: exit %d, %q", code, stderr)
	}
	over := writeFile(t, "over.csv", "2024-01-01T00:00:00Z,1\n2025-01-01T00:00:01Z,1\n")
	code, stderr, finished := runWithin(t, 10*time.Second, backtestArgs(over)...)
	wantRefused(t, code, stderr, finished, over+":2: the row at 2025-01-01T00:00:01Z is 366 days and 1s after the first (line 1): a trace covers at most 366 days")
}

// --help says the limits.
func TestBacktestHelpSaysTheLimits(t *testing.T) {
	var help strings.Builder
	if err := run(context.Background(), []string{"backtest", "--help"}, lookup(nil), &help, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("backtest --help: %v", err)
	}
	text := strings.Join(strings.Fields(help.String()), " ")
	for _, want := range []string{"a trace covers at most 366 days from its first row",
		"--every and --vonage-interval are at least 1s", "at most 1,100,000 checks over the trace (about a year at 30s)",
		"check interval, at least 1s", "checks the balance, at least 1s"} {
		if !strings.Contains(text, want) {
			t.Errorf("--help lacks %q:\n%s", want, help.String())
		}
	}
}
