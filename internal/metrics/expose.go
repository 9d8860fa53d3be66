package metrics

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	vm "github.com/VictoriaMetrics/metrics"
)

// contentType is the type of what Handler serves: the Prometheus text
// format, version 0.0.4, as the Prometheus client served it.
const contentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// maxScrapesInFlight bounds the scrapes served at once; one more is answered
// 503 at once.
const maxScrapesInFlight = 4

// Handler serves the metrics in the Prometheus text format, whatever the
// request's method or Accept header (the server routes only GET and HEAD
// here): the watchdog's, the burn rate's while the last balance read gave
// one, the fleet's once EnableFleet was called, then the Go runtime's and
// the process's, as the library names them (vm.WriteProcessMetrics,
// vm.WriteFDMetrics). Those keep the Prometheus
// client's go_goroutines, go_threads, go_info, go_gc_duration_seconds, the
// go_memstats_* it had, process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_start_time_seconds, process_open_fds and process_max_fds; its
// go_sched_gomaxprocs_threads is go_gomaxprocs, its go_gc_gomemlimit_bytes
// go_memlimit_bytes; go_gc_gogc_percent, process_virtual_memory_max_bytes,
// process_network_*_bytes_total and promhttp_metric_handler_errors_total
// are gone; and the library adds its own (go_sched_latencies_seconds,
// process_resident_memory_anon_bytes, process_io_*, process_pressure_*...).
//
// Each family has its # TYPE line and a # HELP line, with the text in helps
// for the watchdog's and none for the library's, which writes no texts. At
// most maxScrapesInFlight scrapes are served at once. The answer is never
// compressed: it is a few kB, and a gzip writer costs more than a megabyte
// of heap a scrape.
func (m *Metrics) Handler() http.Handler {
	inFlight := make(chan struct{}, maxScrapesInFlight)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		select {
		case inFlight <- struct{}{}:
			defer func() { <-inFlight }()
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", maxScrapesInFlight),
				http.StatusServiceUnavailable)
			return
		}
		b := buffers.Get().(*buffer)
		defer buffers.Put(b)
		b.out.Reset()
		m.writeTo(b)
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Content-Length", strconv.Itoa(b.out.Len()))
		_, _ = w.Write(b.out.Bytes())
	})
}

// buffer is what one scrape writes into: raw holds a set's output, out the
// answer.
type buffer struct{ raw, out bytes.Buffer }

var buffers = sync.Pool{New: func() any { return new(buffer) }}

// writeTo writes the whole exposition to b.out.
func (m *Metrics) writeTo(b *buffer) {
	m.mu.Lock()
	sets := []*vm.Set{m.set}
	if m.rateOn {
		sets = append(sets, m.rateSet)
	}
	if m.fleetOn.Load() {
		sets = append(sets, m.fleetSet)
	}
	for _, s := range sets {
		b.raw.Reset()
		s.WritePrometheus(&b.raw)
		withHelp(&b.out, b.raw.Bytes())
	}
	m.mu.Unlock()
	vm.WriteProcessMetrics(&b.out)
	vm.WriteFDMetrics(&b.out) // process_open_fds, process_max_fds
}

// helpPrefix starts the HELP lines; the library writes them without a text.
const helpPrefix = "# HELP " + Namespace + "_"

// helpEscaper escapes a help text as the text format wants.
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

// withHelp appends src, the output of one of the watchdog's sets, to dst,
// with the text of the family in helps on each "# HELP name" line.
func withHelp(dst *bytes.Buffer, src []byte) {
	for len(src) > 0 {
		line, rest, _ := bytes.Cut(src, []byte{'\n'})
		src = rest
		dst.Write(line)
		if name, ok := bytes.CutPrefix(line, []byte(helpPrefix)); ok {
			if text := helps[string(name)]; text != "" {
				dst.WriteByte(' ')
				_, _ = helpEscaper.WriteString(dst, text)
			}
		}
		dst.WriteByte('\n')
	}
}

// series returns the watchdog's metric name, Namespace-prefixed, with the
// labels given as name, value pairs, in that order.
func series(name string, labels ...string) string {
	var b strings.Builder
	b.WriteString(Namespace + "_" + name)
	for i := 0; i+1 < len(labels); i += 2 {
		if i == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(labels[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(labels[i+1]))
		b.WriteByte('"')
	}
	if len(labels) > 0 {
		b.WriteByte('}')
	}
	return b.String()
}

// labelEscaper escapes a label value as the text format wants.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// vec is a metric family with labels: one metric of a set for each
// combination of label values K, created by create on first use.
type vec[K comparable, M any] struct {
	mu     sync.RWMutex
	m      map[K]M
	create func(K) M
}

func newVec[K comparable, M any](create func(K) M) *vec[K, M] {
	return &vec[K, M]{m: map[K]M{}, create: create}
}

// get returns the metric for the label values k.
func (v *vec[K, M]) get(k K) M {
	v.mu.RLock()
	x, ok := v.m[k]
	v.mu.RUnlock()
	if ok {
		return x
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if x, ok := v.m[k]; ok {
		return x
	}
	x = v.create(k)
	v.m[k] = x
	return x
}
