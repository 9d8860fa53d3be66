package backtest

// The words of the trace's messages: spans, counts and quoted text, written
// for a person.

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// after is how long at is after first, for a person: in whole years from
// two years on (a difference of times that far apart may not fit in a
// time.Duration), else in days (Days).
func after(first, at time.Time) string {
	years := at.Year() - first.Year()
	if first.AddDate(years, 0, 0).After(at) {
		years--
	}
	if years >= 2 {
		return fmt.Sprintf("%d years", years)
	}
	return Days(at.Sub(first))
}

// Thousands writes n with a comma between each three digits: 1,100,000.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Days writes a span in days, for a person: "366 days", "2 days and 1h0m0s";
// a span under a day as time.Duration writes it.
func Days(d time.Duration) string {
	const day = 24 * time.Hour
	n, rest := d/day, d%day
	unit := "days"
	if n == 1 {
		unit = "day"
	}
	switch {
	case n == 0:
		return d.String()
	case rest == 0:
		return fmt.Sprintf("%d %s", n, unit)
	default:
		return fmt.Sprintf("%d %s and %s", n, unit, rest)
	}
}

// clip quotes text from the file for a message, cut on a rune boundary to
// a readable length; clipRaw shows a raw JSON value as it is written.
func clip(s string) string    { return clipText(s, true) }
func clipRaw(s string) string { return clipText(s, false) }

func clipText(s string, quote bool) string {
	const max = 40
	cut := ""
	if len(s) > max {
		n := max
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s, cut = s[:n], "..."
	}
	if quote {
		s = fmt.Sprintf("%q", s)
	}
	return s + cut
}
