package backtest_test

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the synthetic traces in testdata/ from their shapes")

// The synthetic traces: one-minute rows, from Monday 2 March 2026 00:00 UTC
// (the first row at 00:01) for traceDays days, each row the EUR spent in its
// minute, to the cent. Their shapes are written for the backtest's settings
// in the README (threshold 25, target 25, top-ups of 50 credited after a
// minute, a check every 30s, Vonage's every 6m, at most 10 a day): one
// top-up at a time refills at most 50 / (1m + 30s) = 33 EUR a minute, and
// every burst below keeps under that pace.
//
// `go test ./internal/backtest -run TestSyntheticTraces -update` writes
// them; without -update the test fails if a committed trace is not what its
// shape gives.
const traceDays = 7

var (
	traceStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	shapes     = []struct {
		file string
		// perMinute is the pace in EUR a minute of minute m (0 for the
		// minute ending at 00:01 of the first day); rng adds the noise.
		perMinute func(m int, rng *rand.Rand) float64
	}{
		{"steady.csv", steady},
		{"daily-cycle.csv", dailyCycle},
		{"campaign-bursts.csv", campaignBursts},
		{"retry-storm.csv", retryStorm},
	}
)

// steady is 0.10 EUR a minute, all day, every day: 144 EUR a day, a top-up
// of 50 every eight hours and a bit.
func steady(int, *rand.Rand) float64 { return 0.10 }

// dailyCycle is the traffic of a business: 0.02 EUR a minute at night,
// rising from 07:00 to 0.30 at 09:00, a dip to 0.20 over lunch, falling from
// 18:00 to the night's pace at 22:00; weekends at 40 %. Each minute is off
// the pace by up to 20 %, at random. Some 180 EUR a weekday.
func dailyCycle(m int, rng *rand.Rand) float64 {
	return business(m, 0.02, 0.30) * (0.8 + 0.4*rng.Float64())
}

// business is the daily cycle's pace at minute m, from night to day.
func business(m int, night, day float64) float64 {
	hour := float64(m%1440) / 60
	v := night
	switch {
	case hour >= 7 && hour < 9:
		v = night + (day-night)*(hour-7)/2
	case hour >= 12 && hour < 13:
		v = day * 2 / 3
	case hour >= 9 && hour < 18:
		v = day
	case hour >= 18 && hour < 22:
		v = day - (day-night)*(hour-18)/4
	}
	if m/1440%7 >= 5 {
		v *= 0.4
	}
	return v
}

// campaign is a marketing campaign sent in a few minutes: the pace ramps up
// over ramp minutes to peak EUR a minute, holds for hold minutes, and ramps
// down over as many minutes as it ramped up.
type campaign struct {
	day, hour, minute int
	peak              float64
	ramp, hold        int
}

// campaigns are the campaign-bursts trace's: one a day but Sunday, a day
// or more apart, so that no 24 hours need more than the cap of top-ups. The
// one on Wednesday peaks at 30 EUR a minute, under the 33 that one top-up
// at a time can refill: the threshold policy sees it only once the balance
// is below the threshold, a credit too late; the burn rate sees it coming.
var campaigns = []campaign{
	{0, 10, 0, 8, 6, 10},
	{1, 9, 0, 15, 6, 4},
	{2, 11, 0, 30, 8, 2},
	{3, 16, 0, 20, 6, 6},
	{4, 17, 30, 12, 5, 10},
	{5, 12, 0, 6, 5, 15},
}

// campaignBursts is a quieter daily cycle (0.01 to 0.10 EUR a minute) with
// the campaigns on top.
func campaignBursts(m int, rng *rand.Rand) float64 {
	v := business(m, 0.01, 0.10) * (0.8 + 0.4*rng.Float64())
	for _, c := range campaigns {
		at := m - (c.day*1440 + c.hour*60 + c.minute)
		switch {
		case at < 0 || at >= 2*c.ramp+c.hold:
		case at < c.ramp:
			v += c.peak * float64(at+1) / float64(c.ramp)
		case at < c.ramp+c.hold:
			v += c.peak
		default:
			v += c.peak * float64(2*c.ramp+c.hold-at) / float64(c.ramp+1)
		}
	}
	return v
}

// storm is a retry storm: a failing downstream makes the application retry
// every message, the retries pile up and the pace grows by a quarter a
// minute from the base to peak, holds there for hold minutes, and stops at
// once when the fault is fixed.
type storm struct {
	day, hour, minute int
	peak              float64
	hold              int
}

var storms = []storm{
	{0, 15, 0, 10, 10},
	{2, 3, 20, 25, 4},
	{3, 19, 45, 18, 6},
	{5, 8, 10, 28, 3},
}

// stormBase is the retry-storm trace's pace outside its storms.
const stormBase = 0.08

// retryStorm is a steady 0.08 EUR a minute, give or take 25 %, with the
// storms.
func retryStorm(m int, rng *rand.Rand) float64 {
	v := stormBase * (0.75 + 0.5*rng.Float64())
	for _, s := range storms {
		at := m - (s.day*1440 + s.hour*60 + s.minute)
		if at < 0 {
			continue
		}
		grow := int(math.Ceil(math.Log(s.peak/stormBase) / math.Log(1.25)))
		switch {
		case at < grow:
			v += stormBase * math.Pow(1.25, float64(at+1))
		case at < grow+s.hold:
			v += s.peak
		}
	}
	return v
}

// generate writes the trace of a shape: a header, then a row a minute.
func generate(perMinute func(int, *rand.Rand) float64) []byte {
	rng := rand.New(rand.NewPCG(2026, 3))
	var b bytes.Buffer
	b.WriteString("timestamp,spend\n")
	for m := range traceDays * 1440 {
		cents := int64(math.Round(perMinute(m, rng) * 100))
		fmt.Fprintf(&b, "%s,%d.%02d\n", traceStart.Add(time.Duration(m+1)*time.Minute).Format(time.RFC3339), cents/100, cents%100)
	}
	return b.Bytes()
}

// TestSyntheticTraces: the committed traces are what their shapes give
// (with -update, it writes them).
func TestSyntheticTraces(t *testing.T) {
	for _, s := range shapes {
		path := filepath.Join("testdata", s.file)
		want := generate(s.perMinute)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./internal/backtest -run TestSyntheticTraces -update writes it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what its shape gives: run go test ./internal/backtest -run TestSyntheticTraces -update", path)
		}
	}
}
