package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/sethvargo/go-retry"
	"go.uber.org/zap"
)

// maxAnswer is how much of a webhook's answer is read before it is closed.
const maxAnswer = 64 << 10

// Run delivers the queued notifications, one at a time, until ctx ends; then
// it delivers what it can of the rest, the one in flight included, within
// Options.DrainTimeout and returns. It always returns nil: a notification is
// never worth stopping the watchdog for. With notifications off it returns
// at once. Run may be called once.
func (n *Notifier) Run(ctx context.Context) error {
	if n.queue == nil {
		return nil
	}
	defer n.o.Client.CloseIdleConnections()
	dctx, cancel := n.deliveryContext(ctx)
	defer cancel()
	lost := 0
	for {
		select {
		case <-ctx.Done():
			n.drain(dctx, lost)
			return nil
		case m := <-n.queue:
			if n.deliver(dctx, m) {
				lost++
			}
		}
	}
}

// deliveryContext returns the context deliveries run in: it ends
// Options.DrainTimeout after ctx does, so that a delivery in flight and the
// queue's rest get a chance at shutdown.
func (n *Notifier) deliveryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(n.o.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-dctx.Done():
		}
	})
	return dctx, func() {
		stop()
		cancel()
	}
}

// drain delivers what is queued until the queue is empty, each delivery
// failing fast once ctx has ended, and logs how many were not delivered.
func (n *Notifier) drain(ctx context.Context, lost int) {
	for {
		m, ok := n.tryNext()
		if !ok {
			break
		}
		if n.deliver(ctx, m) {
			lost++
		}
	}
	if lost > 0 {
		n.o.Log.Warn("notifications not delivered at shutdown", zap.Int("count", lost))
	}
}

// tryNext takes the next queued notification, if there is one.
func (n *Notifier) tryNext() (message, bool) {
	select {
	case m := <-n.queue:
		return m, true
	default:
		return message{}, false
	}
}

// deliver sends m with retries and logs a failure. It reports whether m was
// lost to the end of ctx, in which case nothing is logged.
func (n *Notifier) deliver(ctx context.Context, m message) (lost bool) {
	body := m.body(n.o.Format, n.o.Account)
	attempts := 0
	err := retry.Do(ctx, n.o.NewBackoff(), func(ctx context.Context) error {
		attempts++
		return n.post(ctx, body)
	})
	switch {
	case err == nil:
		n.o.Log.Debug("notification sent", zap.String("event", m.event), zap.Int("attempts", attempts))
	case ctx.Err() != nil:
		return true
	default:
		n.o.Log.Warn("notification failed",
			zap.String("event", m.event), zap.Int("attempts", attempts), zap.Error(err))
	}
	return false
}

// post makes one delivery attempt. Its error is retryable for a network
// error, a 429 or a 5xx, permanent otherwise, and never holds the URL.
func (n *Notifier) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, n.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.o.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build webhook request: %w", stripURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", n.o.UserAgent)
	resp, err := n.o.Client.Do(req)
	if err != nil {
		return retry.RetryableError(fmt.Errorf("post webhook: %w", stripURL(err)))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	_ = resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests || code >= 500:
		return retry.RetryableError(fmt.Errorf("webhook answered HTTP %d", code))
	default:
		return fmt.Errorf("webhook answered HTTP %d", code)
	}
}

// stripURL replaces a *url.Error, whose text holds the whole URL, by its
// cause: a Slack webhook URL is a secret.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
