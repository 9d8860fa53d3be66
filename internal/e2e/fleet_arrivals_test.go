package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
)

// arrivals records, as each top-up request arrives at the account, how many
// records that may have reached Vonage the Redis ledger holds.
type arrivals struct {
	mu     sync.Mutex
	rc     *redis.Client
	counts []arrival
}

type arrival struct {
	n   int
	err error
}

func (a *arrivals) watch(rc *redis.Client) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rc = rc
}

// note reads the ledger for one arriving request. It holds the lock while
// it reads, so that concurrent requests are counted one after the other.
func (a *arrivals) note() {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, err := mayHaveReached(a.rc)
	a.counts = append(a.counts, arrival{n, err})
}

func (a *arrivals) held() []arrival {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.counts)
}

// mayHaveReached counts the records of the Redis ledger that may have
// reached Vonage.
func mayHaveReached(rc *redis.Client) (int, error) {
	if rc == nil {
		return 0, errors.New("no redis client yet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := rc.Keys(ctx, "*:ledger").Result()
	if err != nil || len(keys) != 1 {
		return 0, fmt.Errorf("ledger keys %q: %v", keys, err)
	}
	data, err := rc.Get(ctx, keys[0]).Bytes()
	if err != nil {
		return 0, err
	}
	st, err := ledger.Decode(data)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range st.TopUps {
		if rec.MayHaveReached() {
			n++
		}
	}
	return n, nil
}
