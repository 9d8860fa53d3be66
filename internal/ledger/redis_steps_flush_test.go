package ledger

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// failPipelines fails the next pipeline (MULTI/EXEC or plain) while armed.
type failPipelines struct{ armed atomic.Int32 }

func (f *failPipelines) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}
func (f *failPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (f *failPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if f.armed.Load() > 0 {
			f.armed.Add(-1)
			err := errors.New("injected: connection reset by peer")
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

// a sees a step back; b applies it first; a's Tick read the shifted
// claim but its write-back failed (step left pending); Redis then loses the
// ledger. a's next Tick puts back the claim it remembers (already shifted)
// and, finding no mark, shifts it again.
func TestRedisAStepThenAFailedWriteBackThenAFlushMovesRecordsOnce(t *testing.T) {
	srv, setStep := steppedRedis(t)
	ctx := context.Background()
	a := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-a" })
	b := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-b" })
	f := &failPipelines{}
	a.client.AddHook(f)
	seedLedger(t, srv, a)
	rec := fleetRecord(b, "claim")
	mustUpdate(t, b, appendRecord(rec))
	if _, err := a.Tick(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	setStep(-time.Hour)
	if _, err := b.Tick(ctx, time.Second); err != nil { // b applies the step
		t.Fatal(err)
	}
	f.armed.Store(1)
	if _, err := a.Tick(ctx, time.Second); err != nil { // a sees the step; its write-back fails
		t.Fatal(err)
	}
	srv.FlushAll()
	if _, err := a.Tick(ctx, time.Second); err != nil { // a writes back what it remembers
		t.Fatal(err)
	}
	st, ok := stored(t, srv, a)
	if !ok || len(st.TopUps) != 1 {
		t.Fatalf("Redis holds %v (%v)", ids(st), ok)
	}
	moved := st.TopUps[0].At.Sub(rec.At)
	t.Logf("claim moved %v; on the fleet clock it is %v old", moved, a.Now().Sub(st.TopUps[0].At))
	if d := moved + time.Hour; d.Abs() > time.Second {
		t.Errorf("after one step of -1h the claim moved by %v, want -1h once", moved)
	}
}

// two schedules (a rolling change of TOPUP_SCHEDULE): at a run time
// both share, the short-lease holder's lease has just ended; the long-lease
// replica takes it, then the short one takes it over (left > 2x its lease):
// both win the same tick and both read the balance.
func TestRedisTwoSchedulesDoNotBothWinATick(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	short := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "every-1m" })
	long := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "every-5m" })
	seedLedger(t, srv, short)
	won := 0
	for round := range 5 { // each round: a run time both schedules share
		if tk, err := short.Tick(ctx, 200*time.Millisecond); err != nil || !tk.Won {
			t.Fatalf("short's Tick = %+v, %v", tk, err)
		}
		time.Sleep(210 * time.Millisecond) // short's lease ends at its next run time
		lt, err1 := long.Tick(ctx, time.Second)
		st, err2 := short.Tick(ctx, 200*time.Millisecond)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if lt.Won && st.Won {
			won++
		}
		t.Logf("round %d: long won %v, short won %v", round, lt.Won, st.Won)
		time.Sleep(1010 * time.Millisecond) // the next shared run time: long's lease ended too
	}
	if won > 0 {
		t.Errorf("%d of 5 shared run times had two winners (two balance reads)", won)
	}
	_ = fmt.Sprint
}
