package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// ScheduleParser returns the parser of TOPUP_SCHEDULE: a cron spec with an
// optional seconds field, or a descriptor such as @every 15s or @hourly,
// either one after an optional CRON_TZ= (or TZ=) prefix. The scheduler uses
// it too, so both read a spec the same way.
func ScheduleParser() cron.Parser {
	return cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
}

// minEvery is the shortest @every interval accepted; the cron library
// silently raises a shorter one to a second.
const minEvery = time.Second

// scheduleExamples ends the error of a spec that does not parse: two that
// do, one of each kind, since most mistakes are a field too many or too
// few, or a descriptor misspelt.
const scheduleExamples = `e.g. "@every 30s" or "*/30 * * * * *"`

// ParseSchedule reads TOPUP_SCHEDULE as the watchdog runs it; the
// backtest reads the variable with it too. A spec the cron library panics
// on is an error like any other.
func ParseSchedule(spec string) (sched cron.Schedule, err error) {
	body := spec
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		_, after, ok := strings.Cut(spec, " ")
		if !ok {
			// The cron library panics on a time zone without a space after it.
			return nil, fmt.Errorf("%q has a time zone and no schedule after it: e.g. \"CRON_TZ=Europe/Berlin 0 9 * * *\"", spec)
		}
		body = strings.TrimSpace(after)
	}
	if every, ok := strings.CutPrefix(body, "@every "); ok {
		if d, err := time.ParseDuration(every); err == nil && d < minEvery {
			return nil, fmt.Errorf("@every below %s: %q", minEvery, spec)
		}
	}
	if n := len(strings.Fields(body)); !strings.HasPrefix(body, "@") && n != 5 && n != 6 {
		return nil, fmt.Errorf("%q is not a cron spec (expected 5 fields, or 6 with seconds; found %d): %s", spec, n, scheduleExamples)
	}
	defer func() {
		if recover() != nil {
			sched, err = nil, fmt.Errorf("%q is not a cron spec: %s", spec, scheduleExamples)
		}
	}()
	sched, err = ScheduleParser().Parse(spec)
	if err != nil {
		kind := "cron spec"
		if strings.HasPrefix(body, "@") {
			kind = "descriptor"
		}
		return nil, fmt.Errorf("%q is not a %s (%v): %s", spec, kind, err, scheduleExamples)
	}
	if neverFires(sched) {
		return nil, fmt.Errorf("never fires: %q", spec)
	}
	return sched, nil
}

// neverFires reports whether sched has no next run, as "0 0 30 2 *" has
// not. The cron library looks five years ahead, so any instant will do to
// start from.
func neverFires(sched cron.Schedule) bool {
	return sched.Next(time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)).IsZero()
}
