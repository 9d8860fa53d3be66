// Package notify owns the watchdog's chat notifications: which changes of
// state deserve a message, their names and bodies, and their delivery to a
// webhook.
//
// A Notifier is a watchdog.Observer. A state machine over the events turns
// them into notifications, one per change of state, never one per check (the
// names and their triggers are the Event constants). Observe only enqueues on
// a bounded queue and never blocks a check; when the queue is full the oldest
// notification is dropped and "notification dropped" is logged with a count.
// Run delivers in one goroutine, retrying 5xx, 429 and network errors with
// backoff; a failed delivery is logged at warn, never fatal.
//
// Rejected credentials on a balance read are not an event of their own: they
// are balance_reads_failing with cause "credentials", sent at the first such
// failure rather than the third.
//
// Bodies never hold the API secret or the trx reference (this package is
// never given them), and logs never hold the webhook URL, which for Slack is
// itself a secret.
package notify

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sethvargo/go-retry"
	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

// The defaults of Options.
const (
	DefaultQueueSize    = 64
	DefaultTimeout      = 10 * time.Second
	DefaultDrainTimeout = 5 * time.Second
	DefaultUserAgent    = "topup-watchdog"
)

// Options configure a Notifier.
type Options struct {
	// URL is the webhook; empty turns notifications off.
	URL string
	// Format is FormatJSON (the default) or FormatSlack.
	Format string
	// Account is the masked API key ("abcd****") put in every body.
	Account string
	// QueueSize bounds the notifications waiting for delivery; 0 means
	// DefaultQueueSize.
	QueueSize int
	// Timeout bounds one delivery attempt; 0 means DefaultTimeout.
	Timeout time.Duration
	// DrainTimeout bounds the delivery of what is queued once Run's context
	// ends; 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Log receives delivery failures and drops; nil discards them.
	Log *zap.Logger
	// Now stamps notifications of events without a time; nil is time.Now.
	Now func() time.Time
	// NewBackoff returns a fresh backoff for one delivery; nil means
	// DefaultBackoff.
	NewBackoff func() retry.Backoff
	// Client sends the requests; nil means a client of its own with
	// Timeout that follows no redirects.
	Client *http.Client
	// UserAgent is sent with every request; empty means DefaultUserAgent.
	UserAgent string
}

// DefaultBackoff is exponential from 500ms with 10% jitter, at most 5
// retries and at most a minute in all.
func DefaultBackoff() retry.Backoff {
	b := retry.NewExponential(500 * time.Millisecond)
	b = retry.WithJitterPercent(10, b)
	b = retry.WithMaxRetries(5, b)
	return retry.WithMaxDuration(time.Minute, b)
}

// Notifier turns watchdog events into webhook notifications.
type Notifier struct {
	o       Options
	queue   chan message // nil when notifications are off
	dropped atomic.Uint64

	mu sync.Mutex // guards st and orders enqueues
	st state
}

var _ watchdog.Observer = (*Notifier)(nil)

// New returns a Notifier; with an empty URL its Observe and Run do nothing.
func New(o Options) *Notifier {
	o = withDefaults(o)
	n := &Notifier{o: o}
	if o.URL != "" {
		n.queue = make(chan message, o.QueueSize)
	}
	return n
}

func withDefaults(o Options) Options {
	if o.Format != FormatSlack {
		o.Format = FormatJSON
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewBackoff == nil {
		o.NewBackoff = DefaultBackoff
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.Client == nil {
		o.Client = newClient(o.Timeout)
	}
	return o
}

func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Transport:     http.DefaultTransport.(*http.Transport).Clone(),
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Observe turns an event into the notifications it causes and queues them.
// It never blocks on delivery.
func (n *Notifier) Observe(e watchdog.Event) {
	if n.queue == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.st.next(e) {
		if m.at.IsZero() {
			m.at = n.o.Now()
		}
		n.enqueue(m)
	}
}

// enqueue queues m, dropping the oldest queued notification when the queue
// is full: the newest says most about the account now. n.mu is held, so
// enqueues do not race each other and the loop ends by its second turn.
func (n *Notifier) enqueue(m message) {
	for {
		select {
		case n.queue <- m:
			return
		default:
		}
		select {
		case old := <-n.queue:
			n.o.Log.Warn("notification dropped",
				zap.String("event", old.event),
				zap.Uint64("dropped", n.dropped.Add(1)),
				zap.Int("queue_size", cap(n.queue)))
		default:
		}
	}
}

// Dropped counts the notifications dropped because the queue was full.
func (n *Notifier) Dropped() uint64 { return n.dropped.Load() }
