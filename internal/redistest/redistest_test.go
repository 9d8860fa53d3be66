package redistest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestAServerAnswersAndForgetsWithoutPersistence(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	if want := "redis://" + s.Addr + "/0"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET after a restart without persistence = %v, want a missing key", err)
	}
}

func TestARestartReloadsTheAppendOnlyFile(t *testing.T) {
	s := Start(t, "--appendonly", "yes", "--appendfsync", "always")
	ctx := context.Background()
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if _, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		t.Fatal("the killed server still accepts connections")
	}
	s.Restart()
	if v, err := s.Client().Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("GET after a restart = %q, %v; want the value the AOF held", v, err)
	}
	s.FlushAll()
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("DBSIZE after FlushAll = %d, %v", n, err)
	}
}

func TestAPasswordIsInTheURLAndRequired(t *testing.T) {
	s := Start(t, "--requirepass", "s3cret-pw")
	ctx := context.Background()
	if !strings.Contains(s.URL(), ":s3cret-pw@") {
		t.Errorf("URL() = %q, want the password in it", s.URL())
	}
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := redis.NewClient(opt).Ping(ctx).Err(); err != nil {
		t.Errorf("PING with the URL's password: %v", err)
	}
	bare := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer bare.Close()
	if err := bare.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("PING without the password = %v, want NOAUTH", err)
	}
}

func TestAReplicaHoldsWhatThePrimaryWrote(t *testing.T) {
	p := Start(t, "--requirepass", "pw-of-primary")
	r := StartReplica(t, p)
	ctx := context.Background()
	if err := p.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Client().Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}
	if v, err := r.Client().Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("replica GET = %q, %v", v, err)
	}
}
