package ledger

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

// texts collects every error text and log line a ledger gave.
type texts struct {
	mu  sync.Mutex
	all []string
}

func (x *texts) add(s string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.all = append(x.all, s)
}

func (x *texts) addLogs(logs *observer.ObservedLogs) {
	for _, e := range logs.All() {
		x.add(fmt.Sprintf("%s %v", e.Message, e.ContextMap()))
	}
}

// exercise runs every method of r and collects what they say.
func (x *texts) exercise(r *Redis) {
	ctx := context.Background()
	for range 2 {
		if err := r.Update(ctx, appendRecord(pending(fmt.Sprint(time.Now().UnixNano())))); err != nil {
			x.add(err.Error())
		}
		if _, err := r.View(ctx); err != nil {
			x.add(err.Error())
		}
		if _, err := r.Tick(ctx, time.Second); err != nil {
			x.add(err.Error())
		}
	}
}

// wantNone fails if a text holds a form of secret or of its "Pa55"
// (internal/secrettest), or if none says wantSome: the test would show
// nothing.
func (x *texts) wantNone(t *testing.T, secret string, wantSome string) {
	t.Helper()
	sweep := secrettest.New(secret, "Pa55")
	found := false
	for i, s := range x.all {
		sweep.Add(fmt.Sprintf("text %d %q", i, s), []byte(s))
		found = found || strings.Contains(s, wantSome)
	}
	sweep.Check(t)
	if !found {
		t.Errorf("no text says %q, in %q: the test shows nothing", wantSome, x.all)
	}
}

func TestRedisNeverSaysThePassword(t *testing.T) {
	const secret = "s3cret-Pa55w0rd"
	srv := redistest.Start(t, "--requirepass", secret)
	var x texts
	observe := func(o *RedisOptions) {
		o.Observe = func(op string, _ time.Duration, err error) {
			if err != nil {
				x.add(op + ": " + err.Error())
			}
		}
	}
	r, logs := openRedis(t, srv, observe)
	seedLedger(t, srv, r)
	x.exercise(r)
	if len(x.all) != 0 {
		t.Fatalf("with the right password: %q", x.all)
	}
	srv.Kill()
	x.exercise(r)
	srv.Restart()

	wrong := strings.Replace(srv.URL(), secret, "wrong-Pa55w0rd-x", 1)
	bad, badLogs := openRedis(t, srv, observe, func(o *RedisOptions) { o.URL = wrong })
	x.exercise(bad)
	noPass := strings.Replace(srv.URL(), ":"+secret+"@", "", 1)
	none, noneLogs := openRedis(t, srv, observe, func(o *RedisOptions) { o.URL = noPass })
	x.exercise(none)
	for _, l := range []*observer.ObservedLogs{logs, badLogs, noneLogs} {
		x.addLogs(l)
	}
	x.wantNone(t, secret, "connection refused")
	x.wantNone(t, "wrong-Pa55w0rd-x", "WRONGPASS")
	x.wantNone(t, secret, "NOAUTH")
}

func TestRedisURLErrorsDoNotEchoThePassword(t *testing.T) {
	const secret = "s3cret-Pa55w0rd"
	for _, u := range []string{
		"redis://user:" + secret + "@127.0.0.1:notaport/0",
		"redis://user:" + secret + "%zz@127.0.0.1/0",
		"redis://127.0.0.1:" + secret,                 // the @ forgotten: a port
		"redis://:" + secret + "@127.0.0.1/" + secret, // a database number
		"redis://:" + secret + "@127.0.0.1/0?dial_timeout=" + secret,
		"redis://:" + secret + "@127.0.0.1/0?" + secret + "=1",
		"redis://:" + secret + "@127.0.0.1/0/" + secret,
		"redis://:" + secret + "@127.0.0.1\x7f/0",
		"redis://" + secret + " @127.0.0.1/0",
		"unix://:" + secret + "@",
		secret + "://127.0.0.1",
		"://:" + secret + "@127.0.0.1",
	} {
		_, err := OpenRedis(context.Background(), RedisOptions{URL: u, Account: "k"})
		if err == nil {
			t.Errorf("OpenRedis(%q) accepted it", u)
			continue
		}
		if !strings.HasPrefix(err.Error(), "TOPUP_REDIS_URL: not a redis URL: ") {
			t.Errorf("OpenRedis(%q) = %v, want it to name TOPUP_REDIS_URL", u, err)
		}
		sweep := secrettest.New(secret, "Pa55")
		sweep.Add(fmt.Sprintf("OpenRedis(%q)", u), []byte(err.Error()))
		sweep.Check(t)
	}
}

// A refused password fails every operation, every round trip is observed as
// failed, and Update never runs fn. go-redis fails the pipeline of a
// connection whose AUTH was refused and leaves its commands with zero values
// and no error: read as answers, they were an empty ledger (refused as
// corrupt), a zero Redis time (a clock off by 292 years) and a Redis that
// answered, over and over.
func TestARefusedPasswordFailsEveryOperation(t *testing.T) {
	const secret = "s3cret-Pa55w0rd"
	srv := redistest.Start(t, "--requirepass", secret)
	var (
		mu       sync.Mutex
		answered []string
	)
	wrong := strings.Replace(srv.URL(), secret, "wrong-Pa55w0rd-x", 1)
	r, logs := openRedis(t, srv, func(o *RedisOptions) {
		o.URL = wrong
		o.Observe = func(op string, _ time.Duration, err error) {
			if err == nil {
				mu.Lock()
				answered = append(answered, op)
				mu.Unlock()
			}
		}
	})
	ctx := context.Background()
	ran := false
	errs := map[string]error{}
	_, errs["view"] = r.View(ctx)
	errs["update"] = r.Update(ctx, func(*State) error { ran = true; return nil })
	_, errs["tick"] = r.Tick(ctx, time.Second)
	for op, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Errorf("%s: %v, want an error that says WRONGPASS", op, err)
		}
	}
	if ran {
		t.Error("Update ran fn on a ledger it could not read")
	}
	if len(answered) != 0 {
		t.Errorf("round trips observed as answered: %v, want none", answered)
	}
	for _, msg := range []string{msgPodClockDiffers, msgRedisClockStepped} {
		if n := logs.FilterMessage(msg).Len(); n != 0 {
			t.Errorf("%d %q lines from a Redis that never answered", n, msg)
		}
	}
}
