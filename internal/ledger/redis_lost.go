package ledger

import (
	"slices"
	"time"

	"go.uber.org/zap"
)

// A ledger that vanished is not a fresh start (rule 11): each replica
// remembers the records it read or wrote that may have reached Vonage and
// are younger than Keep, and puts back those a later read lacks.

// The log line of records put back, and why they were missing.
const (
	msgLostRecords = "ledger lost records"
	whyLostRecords = "redis restarted without persistence, flushed, failed over or evicted: " +
		"the records this replica saw hold their windows, and are written back"
)

// memory is what this replica saw of the ledger. It is guarded by Redis.mu.
type memory struct {
	// seq counts the reads and writes, so that a read is compared only with
	// what was seen before it was sent.
	seq     uint64
	records map[string]*seen
}

// seen is one record as last seen.
type seen struct {
	rec Record
	seq uint64 // of the read or write that saw it
	// reported is set once its loss is logged, until it is seen again.
	reported bool
}

// begin returns the sequence number of a read about to be sent, or of a
// write just made.
func (r *Redis) begin() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mem.seq++
	return r.mem.seq
}

// note remembers rec as seen by the read or write seq. It holds r.mu.
func (r *Redis) note(rec Record, seq uint64, horizon time.Time) {
	e := r.mem.records[rec.ID]
	if e != nil && e.seq > seq {
		return // a newer read or write saw it
	}
	if rec.MayHaveReached() && !rec.At.Before(horizon) {
		r.mem.records[rec.ID] = &seen{rec: rec, seq: seq}
		return
	}
	delete(r.mem.records, rec.ID)
}

// restore puts back into s, read by seq at the fleet's time now, the records
// seen before seq that it lacks, logs those not logged yet, and remembers
// the records of s. vanished is whether the ledger key was missing. It
// reports whether it put back any.
func (r *Redis) restore(s *State, seq uint64, now time.Time, vanished bool) bool {
	horizon := now.Add(-r.o.Keep)
	present := make(map[string]bool, len(s.TopUps))
	for _, rec := range s.TopUps {
		present[rec.ID] = true
	}
	var lost []Record
	var ids []string
	r.mu.Lock()
	for id, e := range r.mem.records {
		switch {
		case e.rec.At.Before(horizon):
			delete(r.mem.records, id)
		case !present[id] && e.seq < seq:
			lost = append(lost, e.rec)
			if !e.reported {
				e.reported = true
				ids = append(ids, id)
			}
		}
	}
	for _, rec := range s.TopUps {
		r.note(rec, seq, horizon)
	}
	r.mu.Unlock()

	slices.SortStableFunc(lost, func(a, b Record) int { return a.At.Compare(b.At) })
	for _, rec := range lost {
		i := slices.IndexFunc(s.TopUps, func(x Record) bool { return x.At.After(rec.At) })
		if i < 0 {
			i = len(s.TopUps)
		}
		s.TopUps = slices.Insert(s.TopUps, i, rec)
	}
	if len(ids) > 0 {
		slices.Sort(ids)
		r.o.Log.Warn(msgLostRecords, zap.Strings("ids", ids), zap.Bool("vanished", vanished),
			zap.String("why", whyLostRecords), zap.String("key", r.keys.ledger))
	}
	return len(lost) > 0
}

// committed remembers the records of saved, which replaced before in Redis
// at the fleet's time now; those that fn removed are forgotten.
func (r *Redis) committed(before, saved State, now time.Time) {
	seq := r.begin()
	horizon := now.Add(-r.o.Keep)
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := make(map[string]bool, len(saved.TopUps))
	for _, rec := range saved.TopUps {
		kept[rec.ID] = true
		r.note(rec, seq, horizon)
	}
	for _, rec := range before.TopUps {
		if e := r.mem.records[rec.ID]; !kept[rec.ID] && e != nil && e.seq <= seq {
			delete(r.mem.records, rec.ID)
		}
	}
}
