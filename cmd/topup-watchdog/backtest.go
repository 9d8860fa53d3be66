package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/backtest"
	"github.com/topup-watchdog/topup-watchdog/internal/config"
)

const backtestSummary = `Replays a usage trace through three strategies on one simulated account, in
simulated time, and prints a table and a chart of what each did: Vonage's
own auto-reload (a check every --vonage-interval that charges one amount when
the balance is below the threshold and its last charge has been credited),
and the watchdog with TOPUP_POLICY=threshold and =predictive, which run the
real check code. Nothing is sent anywhere.

The trace (--trace) is a CSV file of rows "timestamp,spend" (RFC 3339 times,
the EUR spent since the row before) or the watchdog's JSON log, whose
decision lines give the balance; the format is told from the content.

Limits: a trace covers at most 366 days from its first row, in at most
1,100,000 rows; --every and --vonage-interval are at least 1s, and each
makes at most 1,100,000 checks over the trace (about a year at 30s). Beyond
them the backtest refuses, exit 2, rather than run for hours.

Settings default to the TOPUP_ variables when they are set: TOPUP_THRESHOLD,
TOPUP_TARGET, TOPUP_AMOUNT, TOPUP_WINDOW, TOPUP_MAX_PER_DAY, TOPUP_LEAD_TIME
and TOPUP_SCHEDULE (its interval). --threshold and --amount are required,
from the flag or the variable. The start balance is the log's first balance,
else the target plus one amount.

To backtest your own settings: run the watchdog with TOPUP_DRY_RUN=true for
a week, then replay its log: topup-watchdog backtest --trace watchdog.log`

// backtestDefaults are the backtest's settings before the TOPUP_ variables
// and the flags: the watchdog's defaults, and those of the simulated account.
var backtestDefaults = backtest.Settings{
	CreditDelay: time.Minute, Every: 30 * time.Second, VonageInterval: 6 * time.Minute,
	Window: 15 * time.Minute, MaxPerDay: 5,
}

// optionalDecimal is a decimal flag that knows whether it has a value, from
// the flag or its variable.
type optionalDecimal struct {
	d   decimal.Decimal
	set bool
}

func (f *optionalDecimal) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

func (f *optionalDecimal) Set(s string) error {
	d, err := config.ParseDecimal(s)
	if err != nil {
		return err
	}
	f.d, f.set = d, true
	return nil
}

// leadTimeFlag is --lead-time: auto (0) or a duration above 0.
type leadTimeFlag struct{ d *time.Duration }

func (f leadTimeFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return config.LeadTimeAuto
	}
	return f.d.String()
}

func (f leadTimeFlag) Set(s string) error {
	d, err := parseLeadTime(s)
	if err == nil {
		*f.d = d
	}
	return err
}

// backtestFlags are the command's flags, their defaults taken from the
// environment.
type backtestFlags struct {
	fs                                *flag.FlagSet
	trace                             string
	threshold, target, amount, starts optionalDecimal
	s                                 backtest.Settings
	json                              bool
	// schedule is TOPUP_SCHEDULE parsed, when it is set; its interval is
	// --every's default, worked out at the trace's start.
	schedule config.Config
	// envErrs are the problems of the variables, by flag name: reported
	// unless the flag overrides the variable.
	envErrs map[string]string
}

func runBacktest(ctx context.Context, e *env, args []string) error {
	f := newBacktestFlags(e)
	if err := parseFlags(f.fs, args); err != nil {
		return err
	}
	s, tr, err := f.settings()
	if err != nil {
		fmt.Fprintf(e.stderr, "%s backtest: %v\n", programName, err)
		return exitError{exitBadConfig}
	}
	// main keeps the watchdog on one processor; the strategies of a
	// backtest run side by side, each on its own.
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.SetDefaultGOMAXPROCS()
	}
	results, err := backtest.Run(ctx, tr, s)
	if err != nil {
		return err
	}
	if f.json {
		return backtest.RenderJSON(e.stdout, results)
	}
	width, color := terminal(e)
	return backtest.Render(e.stdout, s, results, width, backtest.WithColor(color))
}

// newBacktestFlags reads the TOPUP_ variables and registers the flags with
// the defaults they give.
func newBacktestFlags(e *env) *backtestFlags {
	f := &backtestFlags{fs: newFlags(e, "backtest", backtestSummary), s: backtestDefaults, envErrs: map[string]string{}}
	env := func(flagName, name string, parse func(string) error) {
		if v, ok := e.lookupenv(name); ok && v != "" {
			if err := parse(v); err != nil {
				f.envErrs[flagName] = name + ": " + err.Error()
			}
		}
	}
	env("threshold", "TOPUP_THRESHOLD", f.threshold.Set)
	env("target", "TOPUP_TARGET", f.target.Set)
	env("amount", "TOPUP_AMOUNT", f.amount.Set)
	env("window", "TOPUP_WINDOW", func(v string) (err error) { f.s.Window, err = parseBacktestDuration(v); return err })
	env("max-per-day", "TOPUP_MAX_PER_DAY", func(v string) (err error) { f.s.MaxPerDay, err = parseCap(v); return err })
	env("lead-time", "TOPUP_LEAD_TIME", leadTimeFlag{&f.s.LeadTime}.Set)
	env("every", "TOPUP_SCHEDULE", func(v string) (err error) { f.schedule.Schedule, err = config.ParseSchedule(v); return err })

	fs := f.fs
	fs.StringVar(&f.trace, "trace", "", "the usage trace: a CSV `file` of timestamp,spend rows or the watchdog's JSON log (required)")
	fs.Var(&f.threshold, "threshold", "a refill starts below this many `EUR` (TOPUP_THRESHOLD; required)")
	fs.Var(&f.target, "target", "a refill goes on up to this many `EUR` (TOPUP_TARGET; default the threshold)")
	fs.Var(&f.amount, "amount", "what every top-up adds, in `EUR` (TOPUP_AMOUNT; required)")
	fs.Var(&f.starts, "start-balance", "the balance at the trace's start, in `EUR` (default the log's first balance, else the target plus one amount)")
	fs.DurationVar(&f.s.CreditDelay, "credit-delay", f.s.CreditDelay, "how long after it is applied a top-up shows in the balance, for every strategy")
	fs.DurationVar(&f.s.Every, "every", f.s.Every, "the watchdog's check interval, at least 1s (the interval of TOPUP_SCHEDULE when set)")
	fs.DurationVar(&f.s.VonageInterval, "vonage-interval", f.s.VonageInterval, "how often Vonage's own auto-reload checks the balance, at least 1s")
	fs.Var(leadTimeFlag{&f.s.LeadTime}, "lead-time", "how far ahead the predictive policy projects: auto or a `duration` (TOPUP_LEAD_TIME; default auto)")
	fs.DurationVar(&f.s.Window, "window", f.s.Window, "the idempotency window (TOPUP_WINDOW)")
	fs.IntVar(&f.s.MaxPerDay, "max-per-day", f.s.MaxPerDay, "at most this many top-ups in any 24 hours (TOPUP_MAX_PER_DAY)")
	fs.BoolVar(&f.json, "json", false, "print the results as JSON instead of a table and a chart")
	return f
}

// settings checks the flags, reads the trace and returns the backtest's
// settings. Its error is one problem, naming the flag, the variable or the
// trace's file and line.
func (f *backtestFlags) settings() (backtest.Settings, backtest.Trace, error) {
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	for _, name := range []string{"threshold", "target", "amount", "window", "max-per-day", "lead-time", "every"} {
		if msg, bad := f.envErrs[name]; bad && !given[name] {
			return backtest.Settings{}, backtest.Trace{}, errors.New(msg)
		}
	}
	s := f.s
	if err := f.check(&s); err != nil {
		return backtest.Settings{}, backtest.Trace{}, err
	}
	tr, err := backtest.ReadTrace(f.trace)
	if err != nil {
		return backtest.Settings{}, backtest.Trace{}, err
	}
	every := "--every"
	if f.schedule.Schedule != nil && !given["every"] {
		every = "TOPUP_SCHEDULE"
		switch s.Every = f.schedule.Interval(tr.Rows[0].At); {
		case s.Every <= 0:
			return backtest.Settings{}, backtest.Trace{}, errors.New("TOPUP_SCHEDULE: has no interval at the trace's start: give --every")
		case s.Every < backtest.MinInterval:
			return backtest.Settings{}, backtest.Trace{}, fmt.Errorf("TOPUP_SCHEDULE: its interval at the trace's start, %s, is below %s: give --every",
				s.Every, backtest.MinInterval)
		}
	}
	if err := checkCount(tr, every, s.Every); err != nil {
		return backtest.Settings{}, backtest.Trace{}, err
	}
	if err := checkCount(tr, "--vonage-interval", s.VonageInterval); err != nil {
		return backtest.Settings{}, backtest.Trace{}, err
	}
	switch {
	case f.starts.set:
		s.StartBalance = f.starts.d
	case tr.HasStart:
		s.StartBalance = tr.StartBalance
	default:
		s.StartBalance = s.Target.Add(s.Amount)
	}
	return s, tr, nil
}

// check fills in the decimals and checks what the flags cannot check one by
// one.
func (f *backtestFlags) check(s *backtest.Settings) error {
	switch {
	case f.trace == "":
		return errors.New("--trace is required: a CSV file of timestamp,spend rows or the watchdog's JSON log")
	case !f.threshold.set:
		return errors.New("--threshold is required (or TOPUP_THRESHOLD)")
	case !f.amount.set:
		return errors.New("--amount is required (or TOPUP_AMOUNT): what every top-up adds")
	case !f.threshold.d.IsPositive():
		return fmt.Errorf("--threshold: must be greater than 0: %s", f.threshold.d)
	case !f.amount.d.IsPositive():
		return fmt.Errorf("--amount: must be greater than 0: %s", f.amount.d)
	}
	s.Threshold, s.Target, s.Amount = f.threshold.d, f.threshold.d, f.amount.d
	if f.target.set {
		if f.target.d.LessThan(s.Threshold) {
			return fmt.Errorf("--target: %s is below the threshold %s", f.target.d, s.Threshold)
		}
		s.Target = f.target.d
	}
	for _, d := range []struct {
		name string
		d    time.Duration
		zero bool
	}{
		{"credit-delay", s.CreditDelay, true}, {"every", s.Every, false},
		{"vonage-interval", s.VonageInterval, false}, {"window", s.Window, false},
	} {
		if d.d < 0 || d.d == 0 && !d.zero {
			return fmt.Errorf("--%s: must be greater than 0: %s", d.name, d.d)
		}
	}
	if s.Every < backtest.MinInterval {
		return fmt.Errorf("--every: must be at least %s, as TOPUP_SCHEDULE's @every: %s", backtest.MinInterval, s.Every)
	}
	if s.VonageInterval < backtest.MinInterval {
		return fmt.Errorf("--vonage-interval: must be at least %s: %s", backtest.MinInterval, s.VonageInterval)
	}
	if s.MaxPerDay < 0 {
		return fmt.Errorf("--max-per-day: must be at least 0: %d", s.MaxPerDay)
	}
	return nil
}

// checkCount refuses an interval that would make more than
// backtest.MaxChecks checks over the trace; name names the flag or the
// variable it came from.
func checkCount(tr backtest.Trace, name string, interval time.Duration) error {
	n := tr.Checks(interval)
	if n <= backtest.MaxChecks {
		return nil
	}
	what, fix := interval.String(), "a longer "+name
	if name == "TOPUP_SCHEDULE" {
		what, fix = "its interval at the trace's start, "+interval.String()+",", "a longer --every"
	}
	return fmt.Errorf("%s: %s makes %s checks over the trace's %s (from one step before its first row), more than the %s a backtest makes at most (about a year at 30s): give %s or a shorter trace",
		name, what, backtest.Thousands(n), backtest.Days(tr.Span()), backtest.Thousands(backtest.MaxChecks), fix)
}

// parseBacktestDuration reads a Go duration above 0, as TOPUP_WINDOW.
func parseBacktestDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("not a duration above 0 such as 90s or 15m: %q", s)
	}
	return d, nil
}

// parseCap reads TOPUP_MAX_PER_DAY: a count of at least 0.
func parseCap(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a count of 0 or more: %q", s)
	}
	return n, nil
}

// parseLeadTime reads TOPUP_LEAD_TIME or --lead-time: 0 for auto, else a
// duration above 0.
func parseLeadTime(s string) (time.Duration, error) {
	if s == config.LeadTimeAuto {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("not %s or a duration above 0 such as 90s or 15m: %q", config.LeadTimeAuto, s)
	}
	return d, nil
}

// terminal is the width to draw the chart at and whether to draw it in
// colour: in colour only on a terminal (a character device) without
// NO_COLOR or TERM=dumb; as wide as COLUMNS says, else the default.
func terminal(e *env) (width int, color bool) {
	if v, ok := e.lookupenv("COLUMNS"); ok {
		width, _ = strconv.Atoi(v)
	}
	file, ok := e.stdout.(*os.File)
	if !ok {
		return width, false
	}
	info, err := file.Stat()
	if err != nil || info.Mode()&os.ModeCharDevice == 0 {
		return width, false
	}
	if _, no := e.lookupenv("NO_COLOR"); no {
		return width, false
	}
	term, _ := e.lookupenv("TERM")
	return width, term != "dumb"
}
