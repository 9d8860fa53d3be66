package ledger

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// roundTrips counts what a go-redis client sends: a command or a pipeline
// is one round trip.
type roundTrips struct {
	trips, cmds atomic.Int64
}

var _ redis.Hook = (*roundTrips)(nil)

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.trips.Add(1)
		c.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.trips.Add(1)
		c.cmds.Add(int64(len(cmds))) // MULTI and EXEC included
		return next(ctx, cmds)
	}
}

// benchRedis is a Redis ledger on a local redis-server holding a day of
// records, with its round trips counted.
func benchRedis(b *testing.B) (*Redis, *redistest.Server, *roundTrips) {
	srv := redistest.Start(b)
	r := openRedisQuiet(b, srv, func(o *RedisOptions) { o.Replica = "bench" })
	err := r.Update(context.Background(), func(s *State) error {
		for i := range 10 {
			rec := pending(fmt.Sprintf("r%d", i))
			rec.At = rec.At.Add(-time.Duration(i) * time.Hour)
			rec.Outcome = Succeeded
			s.TopUps = append(s.TopUps, rec)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.Tick(context.Background(), time.Minute); err != nil { // loads the script
		b.Fatal(err)
	}
	c := &roundTrips{}
	r.client.AddHook(c)
	return r, srv, c
}

func report(b *testing.B, c *roundTrips) {
	b.ReportMetric(float64(c.trips.Load())/float64(b.N), "roundtrips/op")
	b.ReportMetric(float64(c.cmds.Load())/float64(b.N), "cmds/op")
}

// BenchmarkRedisCheck is what a winning check asks of Redis: the tick,
// then one Update that writes the reading.
func BenchmarkRedisCheck(b *testing.B) {
	benchCheck(b, func(s *State, rd Reading) { s.Reading = &rd })
}

// benchCheck runs checks that win the tick and write what record does with
// a new reading.
func benchCheck(b *testing.B, record func(*State, Reading)) {
	r, _, c := benchRedis(b)
	ctx := context.Background()
	n := int64(0)
	for b.Loop() {
		n++
		t, err := r.Tick(ctx, time.Minute)
		if err != nil || !t.Won {
			b.Fatalf("Tick = %+v, %v", t, err)
		}
		err = r.Update(ctx, func(s *State) error {
			record(s, Reading{At: r.Now(), Balance: decimal.NewFromInt(n), Replica: "bench"})
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	report(b, c)
}

// BenchmarkRedisTickLost is what a check of a replica that does not have
// the tick asks of Redis.
func BenchmarkRedisTickLost(b *testing.B) {
	r, srv, c := benchRedis(b)
	ctx := context.Background()
	if err := srv.Client().Set(ctx, r.keys.tick, "other", 90*time.Second).Err(); err != nil { // at most twice the lease: it holds
		b.Fatal(err)
	}
	for b.Loop() {
		t, err := r.Tick(ctx, time.Minute)
		if err != nil || t.Won || t.Holder != "other" {
			b.Fatalf("Tick = %+v, %v", t, err)
		}
	}
	report(b, c)
}

// BenchmarkRedisUpdateUnchanged is an Update that writes nothing: the read,
// then the UNWATCH.
func BenchmarkRedisUpdateUnchanged(b *testing.B) {
	r, _, c := benchRedis(b)
	ctx := context.Background()
	for b.Loop() {
		if err := r.Update(ctx, func(*State) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	report(b, c)
}

// BenchmarkRedisCheckWithReadings is BenchmarkRedisCheck with the burn
// rate's readings: the Update adds the reading to them too, and writes the
// reading and readings keys (the ledger value is left as it is).
func BenchmarkRedisCheckWithReadings(b *testing.B) {
	benchCheck(b, func(s *State, rd Reading) {
		s.Reading = &rd
		s.AddReading(rd)
	})
}
