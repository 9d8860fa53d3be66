package metrics

// Reading a scrape back as metric families, and every family's type and
// help.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// families parses text in the Prometheus text format, failing t on an error.
func families(t *testing.T, what, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%s does not parse as the Prometheus text format: %v\n%s", what, err, text)
	}
	return mfs
}

// samples parses text in the Prometheus text format into its samples, each
// keyed as series writes it: a histogram is its _bucket, _sum and _count
// samples, a summary its quantiles, _sum and _count. A sample that appears
// twice fails t.
func samples(t *testing.T, what, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	add := func(name string, labels []*dto.LabelPair, extra *dto.LabelPair, v float64) {
		k := seriesKey(name, labels, extra)
		if _, dup := out[k]; dup {
			t.Errorf("%s has %s twice", what, k)
		}
		out[k] = v
	}
	for name, mf := range families(t, what, text) {
		for _, m := range mf.GetMetric() {
			l := m.GetLabel()
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				add(name, l, nil, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, l, nil, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add(name, l, nil, m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					add(name+"_bucket", l, label("le", formatFloat(b.GetUpperBound())), float64(b.GetCumulativeCount()))
				}
				add(name+"_sum", l, nil, h.GetSampleSum())
				add(name+"_count", l, nil, float64(h.GetSampleCount()))
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					add(name, l, label("quantile", formatFloat(q.GetQuantile())), q.GetValue())
				}
				add(name+"_sum", l, nil, s.GetSampleSum())
				add(name+"_count", l, nil, float64(s.GetSampleCount()))
			default:
				t.Errorf("%s: family %s has type %v", what, name, mf.GetType())
			}
		}
	}
	return out
}

func label(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// seriesKey names a sample by its name and its labels sorted by name, "le"
// and "quantile" values written as formatFloat writes them.
func seriesKey(name string, labels []*dto.LabelPair, extra *dto.LabelPair) string {
	if extra != nil {
		labels = append(slices.Clone(labels), extra)
	}
	var kv []string
	for _, l := range labels {
		v := l.GetValue()
		if n := l.GetName(); n == "le" || n == "quantile" {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				v = formatFloat(f)
			}
		}
		kv = append(kv, l.GetName()+"="+strconv.Quote(v))
	}
	if len(kv) == 0 {
		return name
	}
	slices.Sort(kv)
	return name + "{" + strings.Join(kv, ",") + "}"
}

// families' types, as the README's Observability section and the Prometheus
// client had them.
var wantTypes = map[string]dto.MetricType{
	"balance_eur":                          dto.MetricType_GAUGE,
	"threshold_eur":                        dto.MetricType_GAUGE,
	"target_eur":                           dto.MetricType_GAUGE,
	"auto_reload_enabled":                  dto.MetricType_GAUGE,
	"window_open":                          dto.MetricType_GAUGE,
	"topups_last_24h":                      dto.MetricType_GAUGE,
	"last_check_success_timestamp_seconds": dto.MetricType_GAUGE,
	"last_topup_timestamp_seconds":         dto.MetricType_GAUGE,
	"consecutive_failed_checks":            dto.MetricType_GAUGE,
	"checks_total":                         dto.MetricType_COUNTER,
	"decisions_total":                      dto.MetricType_COUNTER,
	"topups_total":                         dto.MetricType_COUNTER,
	"topups_confirmed_total":               dto.MetricType_COUNTER,
	"topups_unconfirmed_total":             dto.MetricType_COUNTER,
	"ledger_failures_total":                dto.MetricType_COUNTER,
	"vonage_request_duration_seconds":      dto.MetricType_HISTOGRAM,
	"spend_eur_total":                      dto.MetricType_COUNTER,
	"burn_rate_eur_per_minute":             dto.MetricType_GAUGE,
	"runway_seconds":                       dto.MetricType_GAUGE,
	"lead_time_seconds":                    dto.MetricType_GAUGE,
	"fleet_ticks_total":                    dto.MetricType_COUNTER,
	"fleet_claims_lost_total":              dto.MetricType_COUNTER,
	"redis_up":                             dto.MetricType_GAUGE,
	"redis_round_trip_seconds":             dto.MetricType_HISTOGRAM,
	"redis_errors_total":                   dto.MetricType_COUNTER,
}

func TestScrapeHasEveryFamilyWithItsTypeAndHelp(t *testing.T) {
	m := New(dec("10"), dec("20"))
	m.EnableFleet()
	m.ObserveRequest("get-balance", "200", 80*time.Millisecond)
	m.ObserveRedis("tick", time.Millisecond, nil)
	m.Observe(rateDecided(t0, "30", "0.5", 10*time.Minute)) // the burn rate's families show only while a rate is known
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8; escaping=underscores" {
		t.Errorf("Content-Type %q", ct)
	}
	if enc := rec.Header().Get("Content-Encoding"); enc != "" {
		t.Errorf("Content-Encoding %q", enc)
	}
	body := rec.Body.String()
	mfs := families(t, "the scrape", body)
	for name, typ := range wantTypes {
		mf := mfs[Namespace+"_"+name]
		switch {
		case mf == nil:
			t.Errorf("scrape lacks the family %s_%s", Namespace, name)
		case mf.GetType() != typ:
			t.Errorf("family %s is a %v, want a %v", mf.GetName(), mf.GetType(), typ)
		case mf.GetHelp() != helps[name] || mf.GetHelp() == "":
			t.Errorf("family %s has the help %q, want %q", mf.GetName(), mf.GetHelp(), helps[name])
		}
	}
	for name := range mfs {
		if n, ok := strings.CutPrefix(name, Namespace+"_"); ok {
			if _, known := wantTypes[n]; !known {
				t.Errorf("scrape has the family %s, not in wantTypes", name)
			}
		}
	}
	// The histograms keep the Prometheus client's buckets, +Inf included.
	for _, h := range []struct {
		line     string // with the le and the count to fill in
		buckets  []float64
		observed float64
	}{
		{`topup_watchdog_vonage_request_duration_seconds_bucket{code="200",endpoint="get-balance",le="%s"} %d`,
			RequestBuckets(), 0.08},
		{`topup_watchdog_redis_round_trip_seconds_bucket{op="tick",le="%s"} %d`, RedisBuckets(), 0.001},
	} {
		for _, le := range h.buckets {
			n := 0
			if h.observed <= le {
				n = 1
			}
			assertLines(t, body, fmt.Sprintf(h.line, formatFloat(le), n))
		}
		assertLines(t, body, fmt.Sprintf(h.line, "+Inf", 1))
	}
	// The Go runtime's and the process's metrics, under the library's names.
	for _, name := range []string{
		"go_goroutines", "go_threads", "go_gomaxprocs", "go_memlimit_bytes", "go_info", "go_gc_duration_seconds",
		"go_memstats_alloc_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
		"process_start_time_seconds", "process_open_fds", "process_max_fds",
	} {
		if mfs[name] == nil {
			t.Errorf("scrape lacks %s", name)
		}
	}
}
