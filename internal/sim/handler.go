package sim

import (
	"context"
	"crypto/subtle"
	"io"
	"net/http"
	"strings"
	"time"
)

// The paths served.
const (
	PathBalance   = "/account/get-balance"
	PathTopUp     = "/account/top-up"
	ControlPrefix = "/_sim/"
)

const maxFormBytes = 64 << 10

// Handler serves GET /account/get-balance, POST /account/top-up and the
// control endpoints under /_sim/ (listed at serveControl; they are not
// counted in Stats).
//
// Credentials: an "Authorization: Basic" header is judged alone when present;
// otherwise the api_key and api_secret query parameters are. A top-up's trx
// is read from the form body only, as the spec puts it; a wrong or missing
// trx is answered like wrong credentials, 401 "authentication failed" (the
// only refusals the spec documents are the two 401s). The checks run in the
// order credentials, auto-reload, trx.
func (a *Account) Handler() http.Handler {
	return http.HandlerFunc(a.serveHTTP)
}

func (a *Account) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == PathBalance:
		a.serveEndpoint(w, r, EndpointBalance, http.MethodGet)
	case r.URL.Path == PathTopUp:
		a.serveEndpoint(w, r, EndpointTopUp, http.MethodPost)
	case strings.HasPrefix(r.URL.Path, ControlPrefix):
		a.serveControl(w, r)
	default:
		a.countOther()
		http.NotFound(w, r)
	}
}

// call is what is known of one request to an endpoint.
type call struct {
	ep         Endpoint
	fault      Fault
	latency    time.Duration
	retryAfter int
	auth       AuthStyle
	authOK     bool
	xml        bool
	idemKey    string
	trx        string
	trxInQuery bool
}

func (a *Account) serveEndpoint(w http.ResponseWriter, r *http.Request, ep Endpoint, method string) {
	if r.Method != method {
		a.countOther()
		w.Header().Set("Allow", method)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	c := a.begin(w, r, ep)
	if !waitCtx(r.Context(), c.latency) {
		a.recordEarly(c, 0)
		abort()
	}
	if c.fault.beforeProcessing() {
		a.failEarly(w, r, c)
		return
	}
	a.deliver(w, r, c, a.process(c))
}

// begin reads the request, counts it and picks its fault and latency.
func (a *Account) begin(w http.ResponseWriter, r *http.Request, ep Endpoint) *call {
	c := &call{ep: ep, xml: wantsXML(r.Header.Get("Accept")), idemKey: idempotencyKey(r.Header)}
	c.auth, c.authOK = a.authenticate(r)
	if ep == EndpointTopUp {
		c.trx, c.trxInQuery = readTRX(w, r)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.countCall(c)
	c.fault = a.pick(ep)
	if c.fault != FaultNone {
		a.stats.Faults[c.fault]++
	}
	c.latency = a.latency()
	c.retryAfter = a.faults.retryAfterSeconds()
	a.notify()
	return c
}

// countCall counts a request to an endpoint. The caller holds a.mu.
func (a *Account) countCall(c *call) {
	if c.ep == EndpointBalance {
		a.stats.BalanceRequests++
	} else {
		a.stats.TopUpRequests++
	}
	switch c.auth {
	case AuthBasic:
		a.stats.AuthBasic++
	case AuthQuery:
		a.stats.AuthQuery++
	}
	if c.idemKey != "" {
		a.stats.IdempotencyKeys++
	}
}

func (a *Account) countOther() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Other++
	a.notify()
}

// authenticate says how r presented credentials and whether they are right.
func (a *Account) authenticate(r *http.Request) (AuthStyle, bool) {
	if key, secret, ok := r.BasicAuth(); ok {
		return AuthBasic, a.credentialsMatch(key, secret)
	}
	q := r.URL.Query()
	if q.Has("api_key") || q.Has("api_secret") {
		return AuthQuery, a.credentialsMatch(q.Get("api_key"), q.Get("api_secret"))
	}
	return AuthNone, false
}

func (a *Account) credentialsMatch(key, secret string) bool {
	return equal(key, a.key) && equal(secret, a.secret)
}

func equal(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// readTRX reads the trx from the form body, and reads the body to its end so
// that the server notices when the client goes away.
func readTRX(w http.ResponseWriter, r *http.Request) (trx string, inQuery bool) {
	inQuery = r.URL.Query().Has("trx")
	if r.Body == nil {
		return "", inQuery
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return "", inQuery
	}
	_, _ = io.Copy(io.Discard, r.Body)
	return r.PostForm.Get("trx"), inQuery
}

func idempotencyKey(h http.Header) string {
	if k := h.Get("Idempotency-Key"); k != "" {
		return k
	}
	return h.Get("X-Idempotency-Key")
}

// process does the account's work for c and returns the answer it deserves,
// before any after-processing fault spoils it.
func (a *Account) process(c *call) answer {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.notify()
	now := a.now()
	if !c.authOK {
		a.stats.AuthFailures++
	}
	if c.ep == EndpointBalance {
		if !c.authOK || c.fault == FaultRefuseAuth {
			return codeAnswer(http.StatusUnauthorized, rootBalance, labelAuthFailed, c.xml)
		}
		return balanceAnswer(a.balanceAt(now).Round(balancePlaces), a.autoReload, c.xml)
	}
	res := a.judgeTopUp(c)
	ans := topUpAnswer(res, c.xml)
	a.recordTopUp(c, now, res, deliveredStatus(c.fault, ans.status))
	return ans
}

// judgeTopUp decides a top-up. The caller holds a.mu.
func (a *Account) judgeTopUp(c *call) Result {
	switch {
	case !c.authOK || c.fault == FaultRefuseAuth:
		return ResultAuthFailed
	case !a.autoReload:
		return ResultAutoReloadDisabled
	case !equal(c.trx, a.trx):
		return ResultBadTRX
	}
	return ResultApplied
}

// recordTopUp logs a top-up request and, if applied, schedules its credit.
// The caller holds a.mu.
func (a *Account) recordTopUp(c *call, now time.Time, res Result, status int) {
	t := TopUp{
		Seq:            len(a.topUps) + 1,
		ReceivedAt:     now,
		Result:         res,
		Status:         status,
		Fault:          c.fault,
		BalanceBefore:  a.balanceAt(now).Round(balancePlaces),
		Auth:           c.auth,
		IdempotencyKey: c.idemKey,
		TRXInQuery:     c.trxInQuery,
	}
	switch res {
	case ResultApplied:
		t.Applied, t.Amount, t.CreditAt = true, a.topUpAmount, now.Add(a.creditDelay)
		a.addEvent(t.CreditAt, a.topUpAmount)
		a.stats.TopUpsApplied++
	case ResultNotProcessed:
	default:
		a.stats.TopUpsRejected++
	}
	a.topUps = append(a.topUps, t)
}

// recordEarly logs a top-up request that was never processed.
func (a *Account) recordEarly(c *call, status int) {
	if c.ep != EndpointTopUp {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recordTopUp(c, a.now(), ResultNotProcessed, status)
	a.notify()
}

// waitCtx waits d, or less if ctx ends first; it reports whether d passed.
func waitCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
