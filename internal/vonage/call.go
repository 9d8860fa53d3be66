package vonage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// call describes one endpoint call.
type call struct {
	op       string // Error.Op
	endpoint string // the Observe endpoint name
	method   string
	url      string // with the auth query, if any: never printed
	path     string // what error messages name instead of the URL
	form     string // the form body, empty for none
}

// GetBalance reads the account balance and whether auto-reload is on, in one
// attempt bounded by ctx and by Options.Timeout. Every error is an *Error;
// an error answer is never read as a balance.
func (c *Client) GetBalance(ctx context.Context) (Balance, error) {
	k := call{op: OpGetBalance, endpoint: EndpointGetBalance, method: http.MethodGet,
		url: c.balanceURL, path: PathGetBalance}
	a, err := c.attempt(ctx, k)
	if err != nil {
		return Balance{}, err
	}
	b, e := parseBalance(a)
	if e != nil {
		return Balance{}, c.answerError(k, a, e)
	}
	return b, nil
}

// TopUp asks Vonage to top the account up with the amount of the payment
// whose reference is Options.TRX, in one attempt bounded by ctx and by
// Options.Timeout. nil means Vonage answered that it succeeded. Every error
// is an *Error; its Sent field tells whether the request may have reached
// Vonage, and such a request must not be sent again blindly.
func (c *Client) TopUp(ctx context.Context) error {
	k := call{op: OpTopUp, endpoint: EndpointTopUp, method: http.MethodPost,
		url: c.topUpURL, path: PathTopUp, form: c.topUpBody}
	// A top-up never rides a connection left idle by an earlier call: the
	// server may close such a connection just as it is reused, and the
	// transport, which cannot rewind the body (see newRequest), would then
	// fail the top-up as possibly sent, holding the window for a top-up
	// that never left. A new connection costs one handshake per top-up.
	c.http.CloseIdleConnections()
	a, err := c.attempt(ctx, k)
	if err != nil {
		return err
	}
	if e := parseTopUp(a); e != nil {
		return c.answerError(k, a, e)
	}
	return nil
}

// attempt sends one request and reads its answer. Its error, always an
// *Error of KindTransport, means there was no answer.
func (c *Client) attempt(parent context.Context, k call) (answer, error) {
	start := time.Now()
	code := "error"
	if c.observe != nil {
		defer func() { c.observe(k.endpoint, code, time.Since(start)) }()
	}
	if err := parent.Err(); err != nil {
		return answer{}, c.transportError(k, false, fmt.Errorf("not sent: %w", err))
	}
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	tracker := &sendTracker{}
	req, err := c.newRequest(httptrace.WithClientTrace(ctx, tracker.clientTrace()), k)
	if err != nil {
		return answer{}, c.transportError(k, false, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, c.transportError(k, tracker.mayHaveSent(err), c.failureCause(parent, ctx, err))
	}
	defer resp.Body.Close()
	code = strconv.Itoa(resp.StatusCode)
	return c.read(resp), nil
}

// newRequest builds the request of k. It never sets an Idempotency-Key
// header: net/http would then replay a written POST on its own.
//
// The form body is a oneShotBody with its length set, so that the request
// has no GetBody and net/http can never rewind it to send it again, over
// HTTP/1.1 or HTTP/2. With a strings.Reader, http.NewRequest would set
// GetBody, and Go's HTTP/2 transport would re-send a top-up whose stream was
// reset with PROTOCOL_ERROR or REFUSED_STREAM, or disowned by a GOAWAY,
// after the server had received it whole: http2canRetryError accepts those
// errors and http2shouldRetryRequest (net/http's h2_bundle.go) rewinds the
// body through GetBody, then the transport dials again, with no limit
// within one attempt when each connection is closed after the reset.
// Without GetBody, http2shouldRetryRequest fails the request instead
// ("cannot retry ... after Request.Body was written"), Transport.roundTrip's
// rewindBody fails with errCannotRewind once the body was read, and the
// HTTP/1 path, persistConn.shouldRetryRequest, does not retry a body it
// cannot rewind even when it wrote nothing. A request without a body (GET)
// may still be retried by the transport: that is harmless, and sendTracker
// counts it as sent.
func (c *Client) newRequest(ctx context.Context, k call) (*http.Request, error) {
	var body io.Reader
	if k.form != "" {
		body = &oneShotBody{r: strings.NewReader(k.form)}
	}
	req, err := http.NewRequestWithContext(ctx, k.method, k.url, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", unwrapURLError(err))
	}
	if k.form != "" {
		// http.NewRequest knows neither the length nor how to rewind a
		// oneShotBody. The length keeps a Content-Length header (no chunked
		// encoding over HTTP/1.1); GetBody must stay nil.
		req.ContentLength = int64(len(k.form))
		req.GetBody = nil
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if k.form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.authHeader != "" {
		req.Header.Set("Authorization", c.authHeader)
	}
	return req, nil
}

// oneShotBody is a request body that can be read once, and only once: a
// type that http.NewRequest does not recognise (unlike *strings.Reader,
// *bytes.Reader and *bytes.Buffer), so that it sets no GetBody. See
// newRequest.
type oneShotBody struct{ r *strings.Reader }

func (b *oneShotBody) Read(p []byte) (int, error) { return b.r.Read(p) }

// read reads an answer's status, headers of interest and at most maxBody
// bytes of its body.
func (c *Client) read(resp *http.Response) answer {
	a := answer{
		status:      resp.StatusCode,
		contentType: resp.Header.Get("Content-Type"),
		retryAfter:  parseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
	limit := c.maxBody
	if limit < math.MaxInt64 {
		limit++
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	switch {
	case err != nil:
		a.bodyErr = fmt.Errorf("read answer: %w", err)
	case int64(len(body)) > c.maxBody:
		a.bodyErr = fmt.Errorf("answer over %d bytes", c.maxBody)
	default:
		a.body = body
	}
	return a
}

// failureCause is the cause of a failed round trip, without the *url.Error
// that would print the URL and its query: the caller's cancellation, the
// attempt's timeout, or the transport's own error.
func (c *Client) failureCause(parent, attempt context.Context, err error) error {
	switch {
	case parent.Err() != nil:
		return parent.Err()
	case attempt.Err() != nil:
		return fmt.Errorf("no answer within %s: %w", c.timeout, context.DeadlineExceeded)
	}
	return unwrapURLError(err)
}

// transportError is the *Error of a call that got no answer. Its message
// names the method and the endpoint path, never the URL.
func (c *Client) transportError(k call, sent bool, cause error) *Error {
	err := fmt.Errorf("%s %s: %w", k.method, k.path, cause)
	return &Error{Op: k.op, Kind: KindTransport, Sent: sent, Err: redactError(c.redact, err, cause)}
}

// answerError completes the *Error of an answer: an answer came back, so
// the request was sent. What the answer said is redacted here, where the
// client's redactor is.
func (c *Client) answerError(k call, a answer, e *Error) *Error {
	e.Op = k.op
	e.Sent = true
	e.RetryAfter = a.retryAfter
	c.explain(e)
	if e.Err != nil {
		e.Err = redactError(c.redact, e.Err, e.Err)
	}
	return e
}

// unwrapURLError strips the *url.Error layers off err.
func unwrapURLError(err error) error {
	for {
		var ue *url.Error
		if !errors.As(err, &ue) || ue.Err == nil {
			return err
		}
		err = ue.Err
	}
}
