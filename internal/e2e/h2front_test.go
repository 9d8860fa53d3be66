package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/h2test"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// h2Front is a hostile HTTP/2 intermediary over TLS (internal/h2test) in
// front of the world's simulated account, as a CDN or load balancer in front
// of Vonage would be. Every request it receives whole it either
//
//   - resets (RST_STREAM with PROTOCOL_ERROR, REFUSED_STREAM or
//     INTERNAL_ERROR, sometimes closing the connection too) or disowns with
//     a GOAWAY before forwarding it: the account never sees it;
//   - forwards to the account, waits for the account's answer, then resets
//     the stream instead of passing the answer on: applied, unanswered;
//   - or forwards it and passes the answer on.
//
// The binary reaches it at https://127.0.0.1:port, trusting its certificate
// through SSL_CERT_FILE.
type h2Front struct {
	srv     *h2test.Server
	certPEM string // the certificate's PEM file, for SSL_CERT_FILE
	acct    http.Handler

	mu    sync.Mutex
	rng   *rand.Rand
	rates frontRates
	// script is what the front does with the next top-up requests, before
	// the rates apply: few top-ups pass a storm's front, and they should
	// meet its resets.
	script []frontPlan
	fates  map[int]frontFate // by h2test.Request.Seq
}

// frontPlan is what the front does with a request.
type frontPlan int

const (
	planRates  frontPlan = iota // as the rates say
	planAnswer                  // forward it and pass the answer on
	planBefore                  // reset (or disown) it unforwarded
	planAfter                   // forward it, then reset it
)

// frontRates are the front's weather: the chance that a request is reset
// before it is forwarded, and after.
type frontRates struct{ before, after float64 }

// frontFate is what the front did with one request.
type frontFate struct {
	// forwarded: the account got the request (and may have applied it).
	forwarded bool
	// answered: the account's answer was passed on.
	answered bool
	// how names the reset or GOAWAY, "" when answered.
	how string
	// status is the account's status for a request forwarded then reset (0
	// when it gave none).
	status int
}

// resetCodes are the codes the front resets streams with.
var resetCodes = []h2test.ErrCode{h2test.ProtocolError, h2test.RefusedStream, h2test.InternalError}

// startFront starts the front before the world's account, answering through
// backend (the account behind the world's recording of balance reads).
func startFront(t *testing.T, r *world, seed uint64) *h2Front {
	t.Helper()
	f := &h2Front{acct: r.acct.Handler(), rng: rand.New(rand.NewPCG(seed^0xf407, seed)), fates: map[int]frontFate{}}
	srv, err := h2test.Start(h2test.Config{Backend: noAbort(r.recordReads(r.acct.Handler())), Decide: f.decide})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	f.srv = srv
	f.certPEM = filepath.Join(t.TempDir(), "front.pem")
	if err := srv.Cert().WritePEM(f.certPEM); err != nil {
		t.Fatal(err)
	}
	return f
}

// scriptTopUps draws the front's top-up script: of the first four top-up
// requests it receives, one is reset unforwarded, one is forwarded and then
// reset, two are answered, in a random order; of the next eight, one in
// five is reset, before or after forwarding at even odds. (The account's
// own script spoils some of those it answers.)
func (f *h2Front) scriptTopUps(rng *rand.Rand) {
	first := []frontPlan{planBefore, planAfter, planAnswer, planAnswer}
	rng.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	for range 8 {
		p := planAnswer
		if rng.IntN(5) < 1 {
			p = planBefore + frontPlan(rng.IntN(2))
		}
		first = append(first, p)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = first
}

// env is the binary's configuration for the front.
func (f *h2Front) env() map[string]string {
	return map[string]string{"VONAGE_BASE_URL": f.srv.URL(), "SSL_CERT_FILE": f.certPEM}
}

func (f *h2Front) setRates(r frontRates) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rates = r
}

// decide runs on the connection's goroutine for every request received
// whole. A request forwarded and then reset goes to the account here, and
// the connection reads nothing more until the account has answered (at most
// its latency and the forwardLimit of a held answer): a front that waits
// for its origin.
func (f *h2Front) decide(req h2test.Request) h2test.Decision {
	f.mu.Lock()
	roll := f.rng.Float64()
	d := h2test.Decision{Action: h2test.Reset, Code: resetCodes[f.rng.IntN(len(resetCodes))]}
	kind := f.rng.IntN(5)
	plan := planRates
	if u, err := url.ParseRequestURI(req.Path); err == nil && u.Path == sim.PathTopUp && len(f.script) > 0 {
		plan, f.script = f.script[0], f.script[1:]
	}
	switch plan {
	case planRates:
		plan = planAnswer
		switch {
		case roll < f.rates.before:
			plan = planBefore
		case roll < f.rates.before+f.rates.after:
			plan = planAfter
		}
	}
	f.mu.Unlock()

	var fate frontFate
	switch plan {
	case planBefore:
		switch kind {
		case 0:
			d.Action = h2test.ResetAndClose
		case 1:
			d = h2test.Decision{Action: h2test.GoAway, Code: h2test.NoError}
		}
	case planAfter:
		if kind == 0 {
			d.Action = h2test.ResetAndClose
		}
		fate.forwarded = true
		fate.status = f.forward(req)
	default:
		d, fate = h2test.Decision{}, frontFate{forwarded: true, answered: true}
	}
	if !fate.answered {
		fate.how = fmt.Sprintf("%s %s", d.Action, d.Code)
	}
	f.mu.Lock()
	f.fates[req.Seq] = fate
	f.mu.Unlock()
	return d
}

// forwardLimit bounds how long the front waits for a held answer of a
// request it will reset anyway: the client has given up by then.
const forwardLimit = stormTimeout + 250*time.Millisecond

// forward passes req to the account and returns its status, dropping the
// answer: the account does its work (applies a top-up, reads a balance)
// and the client never learns of it. The world's record of balance reads is
// not told: the watchdog saw no balance.
func (f *h2Front) forward(req h2test.Request) (status int) {
	u, err := url.ParseRequestURI(req.Path)
	if err != nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), forwardLimit)
	defer cancel()
	hr := (&http.Request{
		Method: req.Method, URL: u, Proto: "HTTP/2.0", ProtoMajor: 2,
		Header: req.Header.Clone(), Body: io.NopCloser(bytes.NewReader(req.Body)),
		ContentLength: int64(len(req.Body)), Host: req.Authority, RequestURI: req.Path,
	}).WithContext(ctx)
	rec := httptest.NewRecorder()
	defer func() {
		if v := recover(); v != nil && !isAbort(v) {
			panic(v)
		}
	}()
	f.acct.ServeHTTP(rec, hr)
	return rec.Code
}

// isAbort reports whether a recovered panic is http.ErrAbortHandler.
func isAbort(v any) bool {
	err, ok := v.(error)
	return ok && errors.Is(err, http.ErrAbortHandler)
}

// noAbort keeps a backend that aborts (panics with http.ErrAbortHandler,
// as the account does to reset a TCP connection or to drop a held one)
// from taking the test process down with it: h2test runs its backends on
// goroutines of its own, and an HTTP/2 stream has no TCP connection to
// reset. The answer is then held until the client gives up (the request's
// context ends with its stream): to the client, the dropped connection is
// an answer that never came.
func noAbort(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if !isAbort(v) {
				panic(v)
			}
			<-req.Context().Done()
		}()
		next.ServeHTTP(w, req)
	})
}

// frontRequest is one request the front received whole, and its fate.
type frontRequest struct {
	h2test.Request
	frontFate
}

// topUps returns the top-up requests the front received, in order.
func (f *h2Front) topUps() []frontRequest {
	var out []frontRequest
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.srv.Requests() {
		if u, err := url.ParseRequestURI(r.Path); err == nil && u.Path == sim.PathTopUp {
			fate, ok := f.fates[r.Seq]
			if !ok {
				fate.how = "dropped on a closing connection"
			}
			out = append(out, frontRequest{Request: r, frontFate: fate})
		}
	}
	return out
}

// counts counts the front's requests by fate, for the report.
func (f *h2Front) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, r := range f.srv.Requests() {
		fate, ok := f.fates[r.Seq]
		if !ok {
			fate.how = "dropped on a closing connection"
		}
		ep := "balance"
		if u, err := url.ParseRequestURI(r.Path); err == nil && u.Path == sim.PathTopUp {
			ep = "top-up"
		}
		switch {
		case fate.answered:
			out[ep+" answered"]++
		case fate.forwarded:
			out[ep+" applied then "+fate.how]++
		default:
			out[ep+" "+fate.how+" unforwarded"]++
		}
	}
	return out
}
