package ledger

import (
	"slices"
	"time"

	"go.uber.org/zap"
)

// The fleet's clock (rule 13) is Redis's TIME. Each reply anchors it at the
// midpoint of its round trip on this pod's monotonic clock; between replies
// it runs on that clock.
//
// A step of Redis's clock (its host's NTP, a VM restore) moves every time
// the fleet reads after it, not the times the ledger holds: a step forward
// would end every window and, by a day, reset the daily cap; a step back
// would stretch them. Each replica that sees a step keeps it pending, and
// its next Update applies it to the ledger (State.Shift) unless the step
// mark (State.ClockStep) says that another replica already did: one step
// moves the ledger once, however many replicas saw it.
const (
	// redisStep is the smallest change of Redis's clock, against the
	// anchor carried forward and beyond the uncertainty of the two round
	// trips, that is taken for a step.
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
	msgStepApplied       = "redis clock stepped: the ledger's times moved by the step"
	msgPodClockDiffers   = "pod clock differs from redis"
	msgPodClockAgrees    = "pod clock agrees with redis"
	hintPodClock         = "the fleet's times (intents, windows, the cap, the tick lease) come from redis's clock, not this pod's: check the pod's time sync"
)

// fleetClock is the anchor of Redis.Now. It is guarded by Redis.mu.
type fleetClock struct {
	anchored bool
	at       time.Time     // Redis's time at mono
	mono     time.Duration // on RedisOptions.Monotonic
	// half is half the anchor's round trip, how far Redis's time may be
	// from at at mono, and end is when its reply came, on the monotonic
	// clock.
	half, end time.Duration
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
	stepped, move := false, !c.anchored || mid >= c.mono // a reply overtaken by a newer one does not move it back
	if c.anchored {
		step = redisTime.Sub(c.at.Add(mid - c.mono))
		slack := c.half + (t1-t0)/2
		if step >= redisStep+slack || step <= -(redisStep+slack) {
			// Only a round trip sent after the anchor's reply came tells
			// which of the two times is the newer: overlapping ones that
			// disagree by a step leave the anchor to the next reply.
			stepped, move = t0 >= c.end, t0 >= c.end
			if stepped {
				// The step came after the anchor's time, which is at+step
				// on the clock after it, give or take slack.
				r.stepSeq++
				r.steps = append(r.steps, pendingStep{id: r.stepSeq, step: step, after: c.at.Add(step - slack), slack: slack})
			}
		}
	}
	if move {
		c.anchored, c.at, c.mono, c.half, c.end = true, redisTime, mid, (t1-t0)/2, t1
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

	if stepped {
		r.o.Log.Warn(msgRedisClockStepped, zap.Duration("step", step))
	}
	if warn {
		r.o.Log.Warn(msgPodClockDiffers, zap.Int64("offset_ms", offset.Milliseconds()), zap.String("hint", hintPodClock))
	}
	if agree {
		r.o.Log.Info(msgPodClockAgrees, zap.Int64("offset_ms", offset.Milliseconds()))
	}
}

// pendingStep is a step of Redis's clock this replica saw and has not yet
// seen applied to the ledger. It is guarded by Redis.mu.
type pendingStep struct {
	id   uint64
	step time.Duration
	// after is a time, on the clock after the step, before the step came:
	// a mark applied after it is this step's.
	after time.Time
	// slack is how far step may be from the true step.
	slack time.Duration
}

// stepsDone are the pending steps one attempt of Update considered: the
// ids of all, the steps of those it applied.
type stepsDone struct {
	ids     []uint64
	applied []time.Duration
}

// applySteps applies to s, read at the fleet's time now, the steps of
// Redis's clock pending when it is called that s does not hold yet, and
// returns those it considered, which settleSteps drops once s is in Redis.
// A step whose mark s holds (one as large, give or take redisStep and the
// two round trips, applied after this replica's last time before the step)
// was applied by another replica: it is skipped.
func (r *Redis) applySteps(s *State, now time.Time) stepsDone {
	r.mu.Lock()
	steps := slices.Clone(r.steps)
	r.mu.Unlock()
	var done stepsDone
	for _, p := range steps {
		done.ids = append(done.ids, p.id)
		if m := s.ClockStep; m != nil && (m.Step-p.step).Abs() < redisStep+p.slack && m.At.After(p.after) {
			continue
		}
		s.Shift(p.step)
		if s.Reading != nil { // the fleet's last reading is as old as it was too
			rd := *s.Reading
			rd.At = rd.At.Add(p.step)
			s.Reading = &rd
		}
		s.ClockStep = &ClockStep{Step: p.step, At: now.UTC()}
		done.applied = append(done.applied, p.step)
	}
	return done
}

// settleSteps drops the pending steps of done, which the ledger now holds,
// and logs those this replica applied.
func (r *Redis) settleSteps(done stepsDone) {
	if len(done.ids) == 0 {
		return
	}
	r.mu.Lock()
	r.steps = slices.DeleteFunc(r.steps, func(p pendingStep) bool { return slices.Contains(done.ids, p.id) })
	r.mu.Unlock()
	for _, step := range done.applied {
		r.o.Log.Warn(msgStepApplied, zap.Duration("step", step), zap.Int64("step_ms", step.Milliseconds()))
	}
}

// stepsPending reports whether a step of Redis's clock waits to be applied.
func (r *Redis) stepsPending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.steps) > 0
}
