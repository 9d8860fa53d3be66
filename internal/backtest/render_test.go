package backtest

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

var t0 = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var settings = Settings{
	Threshold: dec("5"), Target: dec("10"), Amount: dec("10"), StartBalance: dec("20"),
	CreditDelay: 2 * time.Minute, Every: 30 * time.Second, VonageInterval: 6 * time.Minute,
	Window: 15 * time.Minute, MaxPerDay: 5,
}

// sawtooth is a balance falling 0.1 a minute for ten hours from 20, each
// strategy refilling 10 at its own floor.
func sawtooth(floor float64) []Point {
	var s []Point
	b := decimal.NewFromInt(20)
	for i := range 600 {
		b = b.Sub(dec("0.1"))
		if b.InexactFloat64() < floor {
			b = b.Add(decimal.NewFromInt(10))
		}
		s = append(s, Point{At: t0.Add(time.Duration(i) * time.Minute), Balance: b})
	}
	return s
}

func results() []Result {
	return []Result{
		{Name: VonageAutoReload, TopUps: 3, BelowThreshold: 41*time.Minute + 30*time.Second, AtZero: 3 * time.Second,
			Lowest: dec("-0.004"), HeldAboveTarget: dec("4.755"), Series: sawtooth(1)},
		{Name: WatchdogThreshold, TopUps: 12, BelowThreshold: 415 * time.Second,
			Lowest: dec("1.2"), HeldAboveTarget: dec("0.004"), Series: sawtooth(3)},
		{Name: WatchdogPredictive, TopUps: 13, Lowest: dec("5.678"), HeldAboveTarget: dec("12"), Series: sawtooth(5)},
	}
}

func render(t *testing.T, s Settings, rs []Result, width int, opts ...RenderOption) string {
	t.Helper()
	var b strings.Builder
	if err := Render(&b, s, rs, width, opts...); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return b.String()
}

func TestRenderPrintsOneTableRowPerStrategy(t *testing.T) {
	out := render(t, settings, results(), 80)
	want := `strategy             top-ups  min below threshold  min at or below zero  lowest EUR  EUR held above target (mean)
vonage-auto-reload   3        41.5                 0.1                   -0.01       4.76
watchdog-threshold   12       6.9                  0.0                   1.20        0.00
watchdog-predictive  13       0.0                  0.0                   5.67        12.00
`
	if !strings.HasPrefix(out, want) {
		t.Fatalf("table:\n%s\nwant:\n%s", out[:min(len(out), len(want))], want)
	}
}

func TestRenderPrintsTheSpanAndEverySetting(t *testing.T) {
	out := render(t, settings, results(), 80)
	for _, want := range []string{
		"\ntrace: 2024-05-01T00:00:00Z to 2024-05-01T09:59:00Z (9h59m)\n",
		"\nsettings: threshold 5.00, target 10.00, amount 10.00, start balance 20.00 (EUR)\n" +
			"          every 30s, vonage interval 6m, credit delay 2m, lead time auto\n" +
			"          window 15m, max per day 5\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	s := settings
	s.LeadTime = 90 * time.Minute
	if out := render(t, s, results(), 80); !strings.Contains(out, "lead time 1h30m\n") {
		t.Errorf("a set lead time is not named:\n%s", out)
	}
}

// chartRows is the chart's rows: the lines with its axis.
func chartRows(out string) []string {
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "┤") || strings.Contains(l, "┼") {
			rows = append(rows, l)
		}
	}
	return rows
}

func TestRenderChartsEveryStrategyWithinTheWidth(t *testing.T) {
	for _, asked := range []int{0, 60, 80, 120} {
		out := render(t, settings, results(), asked)
		width := asked
		if asked == 0 {
			width = defaultWidth
		}
		if strings.Contains(out, "\x1b") {
			t.Fatalf("colour codes without WithColor:\n%q", out)
		}
		// From zero to the highest balance: chartHeight rows between.
		if rows := chartRows(out); len(rows) != chartHeight+1 {
			t.Fatalf("width %d: %d chart rows, want %d:\n%s", width, len(rows), chartHeight+1, out)
		}
		// The chart and its legend, after the table and the settings.
		chart := out[strings.Index(out, "\n\n ")+2:]
		for _, l := range strings.Split(chart, "\n") {
			if n := utf8.RuneCountInString(l); n > width {
				t.Errorf("width %d: a line of %d runes: %q", width, n, l)
			}
		}
		if !strings.Contains(chart, "balance in EUR, the lowest in each column") {
			t.Fatalf("no caption:\n%s", out)
		}
		// The legend ends the chart, wrapped to the width, in order.
		_, legend, _ := strings.Cut(chart, "column\n\n")
		lines := strings.Split(strings.TrimSuffix(legend, "\n"), "\n")
		for i, l := range lines {
			lines[i] = strings.TrimPrefix(l, "        ")
		}
		want := "┄ threshold 5.00   ─ vonage-auto-reload   • watchdog-threshold   + watchdog-predictive"
		if got := strings.Join(lines, "   "); got != want || (width >= 100) != (len(lines) == 1) {
			t.Fatalf("width %d: legend %q, want %q on one line when it fits:\n%s", width, legend, want, out)
		}
	}
}

func TestRenderWithColorColoursTheSeriesAndTheirLegend(t *testing.T) {
	out := render(t, settings, results(), 80, WithColor(true))
	if !strings.Contains(out, "\x1b[") {
		t.Fatalf("no colour codes:\n%s", out)
	}
	last := -1
	for _, name := range []string{"threshold 5.00", VonageAutoReload, WatchdogThreshold, WatchdogPredictive} {
		i := strings.Index(out, "■\x1b[0m "+name)
		if i < last {
			t.Fatalf("legend lacks %q after the previous name:\n%s", name, out)
		}
		last = i
	}
	if len(chartRows(out)) != chartHeight+1 {
		t.Fatalf("chart rows:\n%s", out)
	}
}

func TestResampleKeepsTheLowestBalanceOfEachColumn(t *testing.T) {
	var s []Point
	for i := range 600 {
		s = append(s, Point{At: t0.Add(time.Duration(i) * time.Minute), Balance: dec("20")})
	}
	s[301].Balance = decimal.Zero // one minute at zero
	cols := resample(s, s[0].At, s[len(s)-1].At, 60)
	zeros := 0
	for _, v := range cols {
		switch v {
		case 0:
			zeros++
		case 20:
		default:
			t.Fatalf("column %v: not a balance of the series, a mean?", v)
		}
	}
	if zeros != 1 {
		t.Fatalf("columns %v: want the dip to zero in one column", cols)
	}
}

func TestResampleHoldsTheBalanceBetweenSparsePoints(t *testing.T) {
	s := []Point{
		{At: t0.Add(time.Minute), Balance: dec("3")},
		{At: t0.Add(5 * time.Minute), Balance: dec("1")},
		{At: t0.Add(5*time.Minute + time.Second), Balance: dec("9")},
		{At: t0.Add(10 * time.Minute), Balance: dec("7")},
	}
	got := resample(s, t0, t0.Add(10*time.Minute), 10)
	nan := math.NaN()
	want := []float64{nan, 3, 3, 3, 3, 1, 9, 9, 9, 7}
	for i := range want {
		if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			t.Fatalf("columns %v, want %v", got, want)
		}
	}
	if got := resample(s[:1], s[0].At, s[0].At, 4); got[0] != 3 || got[3] != 3 {
		t.Fatalf("one instant: %v, want 3 flat", got)
	}
}

func TestRenderDrawsWhateverSeriesThereAre(t *testing.T) {
	rs := results()
	empty := []Result{{Name: VonageAutoReload}, {Name: WatchdogThreshold}}
	onePoint := []Result{{Name: VonageAutoReload, Series: rs[0].Series[:1]}}
	oneEmpty := []Result{{Name: VonageAutoReload}, rs[1]}
	negative := []Result{{Name: VonageAutoReload, Series: []Point{{t0, dec("-3")}, {t0.Add(time.Hour), dec("2")}}}}
	flat := []Result{{Name: VonageAutoReload, Series: []Point{{t0, decimal.Zero}, {t0.Add(time.Hour), decimal.Zero}}}}
	huge := []Result{{Name: VonageAutoReload, Series: []Point{{t0, dec(strings.Repeat("9", 40))}, {t0.Add(time.Hour), dec("-1")}}}}
	for name, rs := range map[string][]Result{"none": nil, "empty": empty, "one point": onePoint, "one empty": oneEmpty,
		"negative": negative, "flat at a zero threshold": flat, "huge": huge} {
		t.Run(name, func(t *testing.T) {
			s := settings
			if name == "flat at a zero threshold" {
				s.Threshold = decimal.Zero
			}
			out := render(t, s, rs, 1)
			if len(rs) == 0 || len(rs[len(rs)-1].Series) == 0 {
				if !strings.Contains(out, "trace: no balance series\n") || len(chartRows(out)) != 0 {
					t.Fatalf("no series, yet:\n%s", out)
				}
				return
			}
			if len(chartRows(out)) == 0 || !strings.Contains(out, VonageAutoReload) {
				t.Fatalf("no chart:\n%s", out)
			}
		})
	}
}

func TestRenderJSONGivesEveryStrategy(t *testing.T) {
	var b strings.Builder
	if err := RenderJSON(&b, results()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Strategies []map[string]any
	}
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	want := []map[string]any{
		{"name": VonageAutoReload, "topups": 3.0, "minutes_below_threshold": 41.5, "minutes_at_zero": 0.1,
			"lowest_balance": "-0.01", "eur_held_above_target": "4.76"},
		{"name": WatchdogThreshold, "topups": 12.0, "minutes_below_threshold": 6.9, "minutes_at_zero": 0.0,
			"lowest_balance": "1.20", "eur_held_above_target": "0.00"},
		{"name": WatchdogPredictive, "topups": 13.0, "minutes_below_threshold": 0.0, "minutes_at_zero": 0.0,
			"lowest_balance": "5.67", "eur_held_above_target": "12.00"},
	}
	if len(got.Strategies) != len(want) {
		t.Fatalf("strategies: %s", b.String())
	}
	for i, w := range want {
		for k, v := range w {
			if got.Strategies[i][k] != v {
				t.Errorf("strategy %d: %s = %#v, want %#v", i, k, got.Strategies[i][k], v)
			}
		}
		if len(got.Strategies[i]) != len(w) {
			t.Errorf("strategy %d has fields %v", i, got.Strategies[i])
		}
	}
	wantFirst := `{"strategies":[{"name":"vonage-auto-reload","topups":3,"minutes_below_threshold":41.5,"minutes_at_zero":0.1,"lowest_balance":"-0.01","eur_held_above_target":"4.76"},`
	if !strings.HasPrefix(b.String(), wantFirst) || !strings.HasSuffix(b.String(), "]}\n") {
		t.Fatalf("JSON:\n%s\nwant it to start:\n%s", b.String(), wantFirst)
	}
}

func TestRenderJSONOfNoResultsIsAnEmptyList(t *testing.T) {
	var b strings.Builder
	if err := RenderJSON(&b, nil); err != nil || b.String() != `{"strategies":[]}`+"\n" {
		t.Fatalf("RenderJSON(nil): %v, %q", err, b.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRenderReportsAFailedWrite(t *testing.T) {
	if err := Render(failingWriter{}, settings, results(), 80); err == nil {
		t.Fatal("Render to a failing writer: no error")
	}
	if err := RenderJSON(failingWriter{}, results()); err == nil {
		t.Fatal("RenderJSON to a failing writer: no error")
	}
}
