package backtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/guptarohit/asciigraph"
	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
)

// The chart's shape: its height in rows, and its width when Render is
// given none.
const (
	chartHeight  = 15
	defaultWidth = 80
	// minColumns is the fewest columns of balances a chart is drawn with,
	// whatever the width.
	minColumns = 10
	// chartOffset is asciigraph's default offset, the cells between the
	// labels and the plot.
	chartOffset = 3
)

// RenderOption changes how Render draws.
type RenderOption func(*renderConfig)

type renderConfig struct {
	color bool
}

// WithColor draws the chart's series in colours, with coloured boxes in its
// legend, when on: for a terminal. Without it the output is plain text, the
// series told apart by their characters.
func WithColor(on bool) RenderOption {
	return func(c *renderConfig) { c.color = on }
}

// Render prints what each strategy did: a table, one row per result in
// order, then the span of the trace, the settings and a chart of every
// result's balance about width columns wide.
func Render(w io.Writer, s Settings, rs []Result, width int, opts ...RenderOption) error {
	var c renderConfig
	for _, o := range opts {
		o(&c)
	}
	if err := renderTable(w, rs); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("\n")
	from, to, ok := seriesSpan(rs)
	if ok {
		fmt.Fprintf(&b, "trace: %s to %s (%s)\n", from.Format(time.RFC3339), to.Format(time.RFC3339), config.ShortDuration(to.Sub(from)))
	} else {
		b.WriteString("trace: no balance series\n")
	}
	fmt.Fprintf(&b, "settings: %s\n\n", describeSettings(s))
	if ok {
		b.WriteString(chart(s, rs, from, to, width, c.color))
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// renderTable prints the table of results: minutes with one decimal,
// amounts in EUR with two.
func renderTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "strategy\ttop-ups\tmin below threshold\tmin at or below zero\tlowest EUR\tEUR held above target (mean)")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Name, r.TopUps,
			tenthsText(r.BelowThreshold), tenthsText(r.AtZero), lowestText(r.Lowest), heldText(r.HeldAboveTarget))
	}
	return tw.Flush()
}

// jsonStrategy is one strategy in RenderJSON's output.
type jsonStrategy struct {
	Name                  string  `json:"name"`
	TopUps                int     `json:"topups"`
	MinutesBelowThreshold float64 `json:"minutes_below_threshold"`
	MinutesAtZero         float64 `json:"minutes_at_zero"`
	LowestBalance         string  `json:"lowest_balance"`
	EURHeldAboveTarget    string  `json:"eur_held_above_target"`
}

// RenderJSON prints the results as one JSON object, for scripts:
//
//	{"strategies":[{"name":"vonage-auto-reload","topups":3,
//	  "minutes_below_threshold":41.5,"minutes_at_zero":0,
//	  "lowest_balance":"1.20","eur_held_above_target":"4.75"}, ...]}
//
// Minutes are numbers rounded to a tenth. Amounts are decimal strings with
// two decimals, as in the table: the lowest balance rounded down, so that
// it never shows higher than it was, the mean held above the target
// rounded to the nearest cent.
func RenderJSON(w io.Writer, rs []Result) error {
	out := struct {
		Strategies []jsonStrategy `json:"strategies"`
	}{Strategies: make([]jsonStrategy, 0, len(rs))}
	for _, r := range rs {
		out.Strategies = append(out.Strategies, jsonStrategy{
			Name:                  r.Name,
			TopUps:                r.TopUps,
			MinutesBelowThreshold: float64(tenths(r.BelowThreshold)) / 10,
			MinutesAtZero:         float64(tenths(r.AtZero)) / 10,
			LowestBalance:         lowestText(r.Lowest),
			EURHeldAboveTarget:    heldText(r.HeldAboveTarget),
		})
	}
	return json.NewEncoder(w).Encode(out)
}

// tenths is d in tenths of a minute, rounded half up: exact, no float.
func tenths(d time.Duration) int64 {
	const tenth = 6 * time.Second
	if d < 0 {
		return -int64((-d + tenth/2) / tenth)
	}
	return int64((d + tenth/2) / tenth)
}

// tenthsText is d in minutes with one decimal.
func tenthsText(d time.Duration) string {
	t := tenths(d)
	sign := ""
	if t < 0 {
		sign, t = "-", -t
	}
	return fmt.Sprintf("%s%d.%d", sign, t/10, t%10)
}

// lowestText is a lowest balance to the cent, rounded down: a balance of
// -0.004 shows as -0.01, never as 0.00.
func lowestText(d decimal.Decimal) string { return d.RoundFloor(2).StringFixed(2) }

// heldText is a mean amount to the nearest cent.
func heldText(d decimal.Decimal) string { return d.StringFixed(2) }

// describeSettings names every setting of the backtest, on lines that
// follow the "settings: " of the first.
func describeSettings(s Settings) string {
	lead := "auto"
	if s.LeadTime > 0 {
		lead = config.ShortDuration(s.LeadTime)
	}
	const indent = "\n          "
	return fmt.Sprintf("threshold %s, target %s, amount %s, start balance %s (EUR)"+
		indent+"every %s, vonage interval %s, credit delay %s, lead time %s"+
		indent+"window %s, max per day %d",
		s.Threshold.StringFixed(2), s.Target.StringFixed(2), s.Amount.StringFixed(2), s.StartBalance.StringFixed(2),
		config.ShortDuration(s.Every), config.ShortDuration(s.VonageInterval), config.ShortDuration(s.CreditDelay), lead,
		config.ShortDuration(s.Window), s.MaxPerDay)
}

// seriesSpan is the first and the last instant of all the results' series,
// and false when no series has a point.
func seriesSpan(rs []Result) (from, to time.Time, ok bool) {
	for _, r := range rs {
		for _, p := range r.Series {
			if !ok || p.At.Before(from) {
				from = p.At
			}
			if !ok || p.At.After(to) {
				to = p.At
			}
			ok = true
		}
	}
	return from, to, ok
}

// The series' styles: the threshold's characters; the results'
// characters without colour, those past the last taking the last; their
// colours, repeating.
var (
	thresholdChars = asciigraph.CreateCharSet("┄")
	plainChars     = []asciigraph.CharSet{asciigraph.DefaultCharSet, asciigraph.CreateCharSet("•"), asciigraph.CreateCharSet("+")}
	seriesColors   = []asciigraph.AnsiColor{asciigraph.Blue, asciigraph.Green, asciigraph.Magenta}
)

// chart draws the balance of every result between from and to, with the
// threshold as a dotted line beneath them and the zero line always in view.
// The threshold is the first series, so that the strategies draw over it.
func chart(s Settings, rs []Result, from, to time.Time, width int, color bool) string {
	if width <= 0 {
		width = defaultWidth
	}
	threshold := s.Threshold.InexactFloat64()
	lo, hi := math.Min(0, threshold), threshold
	for _, r := range rs {
		for _, p := range r.Series {
			v := p.Balance.InexactFloat64()
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	label := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	labelWidth := max(utf8.RuneCountInString(label(lo)), utf8.RuneCountInString(label(hi)))
	columns := max(width-chartOffset-labelWidth, minColumns)

	data := make([][]float64, 0, len(rs)+1)
	line := make([]float64, columns)
	for i := range line {
		line[i] = threshold
	}
	data = append(data, line)
	names := []string{"threshold " + s.Threshold.StringFixed(2)}
	for _, r := range rs {
		data = append(data, resample(r.Series, from, to, columns))
		names = append(names, r.Name)
	}
	opts := []asciigraph.Option{
		asciigraph.Height(chartHeight),
		asciigraph.Offset(chartOffset),
		asciigraph.LowerBound(lo),
		asciigraph.YAxisValueFormatter(label),
		asciigraph.Caption("balance in EUR, the lowest in each column"),
	}
	chars, colors := seriesStyles(len(rs), color)
	opts = append(opts, asciigraph.SeriesChars(chars...))
	if color {
		opts = append(opts, asciigraph.SeriesColors(colors...))
	}
	// The legend is written here, not by asciigraph's SeriesLegends: that
	// one always writes colour codes, and never wraps to the width.
	legend := make([]legendItem, len(names))
	for i, name := range names {
		mark := chars[i].Horizontal
		if color {
			mark = colors[i].String() + "■" + asciigraph.Default.String()
		}
		legend[i] = legendItem{mark: mark, name: name}
	}
	return asciigraph.PlotMany(data, opts...) + "\n\n" + wrapLegend(legend, chartOffset+labelWidth, width)
}

// seriesStyles are the characters and colours of the threshold's line and
// of n results' after it. In colour every result is drawn with the
// default characters; without, each with its own.
func seriesStyles(n int, color bool) ([]asciigraph.CharSet, []asciigraph.AnsiColor) {
	chars := []asciigraph.CharSet{thresholdChars}
	colors := []asciigraph.AnsiColor{asciigraph.DarkGray}
	for i := range n {
		cs := asciigraph.DefaultCharSet
		if !color {
			cs = plainChars[min(i, len(plainChars)-1)]
		}
		chars = append(chars, cs)
		colors = append(colors, seriesColors[i%len(seriesColors)])
	}
	return chars, colors
}

// legendItem is one series in the chart's legend: its mark, the characters
// of its line or a coloured box, then its name.
type legendItem struct{ mark, name string }

// wrapLegend lays the items out on lines indented to the plot, as many on
// each as fit in width.
func wrapLegend(items []legendItem, indent, width int) string {
	const gap = "   "
	var b strings.Builder
	col := 0
	for _, it := range items {
		n := 2 + utf8.RuneCountInString(it.name) // the mark, a space, the name
		switch {
		case col == 0:
		case col+len(gap)+n <= width:
			b.WriteString(gap)
			col += len(gap)
		default:
			b.WriteString("\n")
			col = 0
		}
		if col == 0 {
			pad := max(min(indent, width-n), 0)
			b.WriteString(strings.Repeat(" ", pad))
			col = pad
		}
		b.WriteString(it.mark + " " + it.name)
		col += n
	}
	return b.String()
}

// resample turns a series into n columns of balances between from and to:
// each column holds the LOWEST balance of the points in its span of time,
// never their mean, so that a dip to zero shorter than a column is never
// hidden by averaging. A column without a point holds the balance of the
// last point before it (the balance stays until it changes), and NaN, which
// asciigraph leaves blank, when no point came before it.
func resample(series []Point, from, to time.Time, n int) []float64 {
	out := make([]float64, n)
	// end is the balance of the newest point in each column, and endAt
	// its time: what the columns after it hold until a point comes.
	end := make([]float64, n)
	endAt := make([]time.Time, n)
	seen := make([]bool, n)
	span := float64(to.Sub(from))
	for _, p := range series {
		i := n - 1
		if span > 0 {
			i = int(float64(p.At.Sub(from)) / span * float64(n))
		}
		i = min(max(i, 0), n-1)
		v := p.Balance.InexactFloat64()
		if !seen[i] || v < out[i] {
			out[i] = v
		}
		if !seen[i] || !p.At.Before(endAt[i]) {
			end[i], endAt[i] = v, p.At
		}
		seen[i] = true
	}
	if span == 0 && seen[n-1] {
		// Every point is at one instant: the chart is that balance, flat.
		for i := range out {
			out[i] = out[n-1]
		}
		return out
	}
	last := math.NaN()
	for i := range out {
		if seen[i] {
			last = end[i]
		} else {
			out[i] = last
		}
	}
	return out
}
