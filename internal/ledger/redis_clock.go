package ledger

import (
	"time"

	"go.uber.org/zap"
)

// The fleet's clock (rule 13) is Redis's TIME. Each reply anchors it at the
// midpoint of its round trip on this pod's monotonic clock; between replies
// it runs on that clock.
const (
	// redisStep is the smallest change of Redis's clock, against the
	// anchor carried forward, that is logged as a step.
	redisStep = time.Second
	// podOffset is the largest difference between this pod's wall clock and
	// Redis's that goes unlogged.
	podOffset = 2 * time.Second
	// podOffsetEvery is how often a lasting difference is logged again.
	podOffsetEvery = 5 * time.Minute
)

// The log lines of the fleet's clock.
const (
	msgRedisClockStepped = "redis clock stepped"
	msgPodClockDiffers   = "pod clock differs from redis"
	msgPodClockAgrees    = "pod clock agrees with redis"
	hintPodClock         = "the fleet's times (intents, windows, the cap, the tick lease) come from redis's clock, not this pod's: check the pod's time sync"
)

// fleetClock is the anchor of Redis.Now. It is guarded by Redis.mu.
type fleetClock struct {
	anchored bool
	at       time.Time     // Redis's time at mono
	mono     time.Duration // on RedisOptions.Monotonic
	// apart is whether the pod's clock differs from Redis's by more than
	// podOffset, and warned when that was last logged, on the monotonic
	// clock.
	apart  bool
	warned time.Duration
}

// anchor sets the fleet's clock from a TIME reply that the round trip from
// t0 to t1 (on the monotonic clock) carried.
func (r *Redis) anchor(redisTime time.Time, t0, t1 time.Duration) {
	redisTime = redisTime.Round(0)
	mid := t0 + (t1-t0)/2
	offset := r.o.Now().Add(-(t1 - mid)).Sub(redisTime)

	r.mu.Lock()
	c := &r.clock
	var step time.Duration
	if c.anchored {
		step = redisTime.Sub(c.at.Add(mid - c.mono))
	}
	if !c.anchored || mid >= c.mono { // a reply overtaken by a newer one does not move it back
		c.anchored, c.at, c.mono = true, redisTime, mid
	}
	var warn, agree bool
	switch {
	case offset > podOffset || offset < -podOffset:
		warn = !c.apart || t1-c.warned >= podOffsetEvery
		if warn {
			c.warned = t1
		}
		c.apart = true
	case c.apart:
		agree, c.apart = true, false
	}
	r.mu.Unlock()

	if step >= redisStep || step <= -redisStep {
		r.o.Log.Warn(msgRedisClockStepped, zap.Duration("step", step))
	}
	if warn {
		r.o.Log.Warn(msgPodClockDiffers, zap.Int64("offset_ms", offset.Milliseconds()), zap.String("hint", hintPodClock))
	}
	if agree {
		r.o.Log.Info(msgPodClockAgrees, zap.Int64("offset_ms", offset.Milliseconds()))
	}
}
