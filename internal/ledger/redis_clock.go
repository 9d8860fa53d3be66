package ledger

import (
	"crypto/rand"
	"encoding/hex"
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
// its next read of the ledger compares the steps it saw since it last read
// it with those the ledger's mark (State.ClockStep: a lineage and the sum
// of the steps applied) says were applied since: the next Update applies
// (State.Shift) those not applied yet, so that one step moves the ledger
// once, however many replicas saw it.
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
	// synced is set once this replica read the ledger in agreement with
	// its clock, frame is the ledger's frame then, and frames the frame
	// each record it remembers was seen in.
	synced bool
	frame  ledgerFrame
	frames map[string]ledgerFrame
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

// pendingStep is a step of Redis's clock this replica saw since it last
// synced with the ledger. It is guarded by Redis.mu.
type pendingStep struct {
	id   uint64
	step time.Duration
	// after is a time, on the clock after the step, before the step came.
	after time.Time
	// slack is how far step may be from the true step.
	slack time.Duration
}

// ledgerFrame is a ledger's lineage and offset (State.ClockStep): the
// frame its times are in.
type ledgerFrame struct {
	lineage string
	offset  time.Duration
}

// unmarked is the lineage of a ledger without a mark (written before
// marks, or by hand), whose offset is 0.
const unmarked = "unmarked"

// frameOf is the frame of s.
func frameOf(s State) ledgerFrame {
	if m := s.ClockStep; m != nil {
		return ledgerFrame{lineage: m.Lineage, offset: m.Offset}
	}
	return ledgerFrame{lineage: unmarked}
}

// newLineage names a new creation of the ledger.
func newLineage() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clockPlan is what one read of the ledger calls for: the frame the
// ledger is to hold and the shift of its times that takes it there.
type clockPlan struct {
	read   ledgerFrame // the ledger's frame as read
	target ledgerFrame
	shift  time.Duration
	ids    []uint64 // the pending steps it accounts for
	// restoreShift moves a record this replica remembers, seen in the
	// ledger of frame f, to the frame of the ledger as read.
	restoreShift func(f ledgerFrame) time.Duration
}

// changes reports whether the plan writes anything but what was read.
func (p clockPlan) changes() bool { return p.shift != 0 || p.target != p.read }

// planClock compares the ledger read (s; missing when its key was not
// there) with what this replica knows: the frame of the ledger as of its
// last sync (synced) and the steps it saw since (pending).
//
// Same lineage: the ledger moved by d since the sync. Other replicas
// applied steps since, in the order they saw them: d is the sum of the
// first k of the pending steps, give or take redisStep and their slack,
// plus those before this replica's first anchor, which it could not see.
// The steps after the k-th are applied. No k fits: d is all steps this
// replica did not see, and all its pending ones are applied.
//
// Another lineage (a ledger recreated, or this replica's first read) is
// adopted as it is; a missing ledger gets a new lineage at offset 0. The
// records this replica remembers are then moved by its steps since they
// were seen.
func (r *Redis) planClock(s State, missing bool) clockPlan {
	read := frameOf(s)
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &r.clock
	p := clockPlan{read: read, target: read}
	var total time.Duration
	for _, st := range r.steps {
		p.ids = append(p.ids, st.id)
		total += st.step
	}
	synced := c.frame
	sameLineage := c.synced && !missing && read.lineage == synced.lineage
	if !sameLineage {
		if missing {
			p.target = ledgerFrame{lineage: newLineage()}
		}
		syncedOK := c.synced
		p.restoreShift = func(f ledgerFrame) time.Duration {
			if syncedOK && f.lineage == synced.lineage {
				return synced.offset + total - f.offset
			}
			return total
		}
		return p
	}
	d := read.offset - synced.offset
	remaining := total
	var prefix, slack time.Duration
	for k := 0; k <= len(r.steps); k++ {
		if k > 0 {
			prefix += r.steps[k-1].step
			slack += r.steps[k-1].slack
		}
		if (d - prefix).Abs() < redisStep+slack {
			remaining = total - prefix
			break
		}
	}
	if remaining.Abs() >= redisStep {
		p.shift = remaining
		p.target.offset = read.offset + remaining
	}
	p.restoreShift = func(f ledgerFrame) time.Duration {
		if f.lineage == read.lineage {
			return read.offset - f.offset
		}
		return 0
	}
	return p
}

// applyClock moves the records of s that are not in present (those put
// back from memory) to the frame of s as read, then all of s by the plan's
// shift, and sets the mark.
func (r *Redis) applyClock(s *State, present map[string]bool, p clockPlan) {
	r.mu.Lock()
	frames := r.clock.frames
	for i := range s.TopUps {
		rec := &s.TopUps[i]
		if present[rec.ID] {
			continue
		}
		f, ok := frames[rec.ID]
		if !ok {
			f = r.clock.frame
		}
		if d := p.restoreShift(f); d != 0 {
			one := State{TopUps: []Record{*rec}}
			one.Shift(d)
			*rec = one.TopUps[0]
		}
	}
	r.mu.Unlock()
	if p.shift != 0 {
		s.Shift(p.shift)
		if s.Reading != nil { // the fleet's last reading is as old as it was too
			rd := *s.Reading
			rd.At = rd.At.Add(p.shift)
			s.Reading = &rd
		}
	}
	if p.target != (ledgerFrame{lineage: unmarked}) {
		s.ClockStep = &ClockStep{Lineage: p.target.lineage, Offset: p.target.offset}
	}
}

// presentIDs are the ids of the records of s.
func presentIDs(s State) map[string]bool {
	m := make(map[string]bool, len(s.TopUps))
	for _, rec := range s.TopUps {
		m[rec.ID] = true
	}
	return m
}

// noteFrames remembers that the records of s with ids in only (all when
// nil) were seen in the ledger of frame f.
func (r *Redis) noteFrames(s State, only map[string]bool, f ledgerFrame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clock.frames == nil {
		r.clock.frames = map[string]ledgerFrame{}
	}
	for _, rec := range s.TopUps {
		if only == nil || only[rec.ID] {
			r.clock.frames[rec.ID] = f
		}
	}
	for id := range r.clock.frames {
		if r.mem.records[id] == nil {
			delete(r.clock.frames, id)
		}
	}
}

// settleClock records that the ledger holds the plan's target: this
// replica is synced with it, and the pending steps the plan accounted for
// are dropped. The shift this replica applied is logged.
func (r *Redis) settleClock(p clockPlan, applied bool) {
	r.mu.Lock()
	r.clock.synced, r.clock.frame = true, p.target
	r.steps = slices.DeleteFunc(r.steps, func(st pendingStep) bool { return slices.Contains(p.ids, st.id) })
	r.mu.Unlock()
	if applied && p.shift != 0 {
		r.o.Log.Warn(msgStepApplied, zap.Duration("step", p.shift), zap.Int64("step_ms", p.shift.Milliseconds()))
	}
}
