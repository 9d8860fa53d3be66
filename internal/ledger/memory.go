package ledger

import (
	"context"
	"sync"
)

// Memory is a ledger that keeps its state in memory, readings and the last
// reading included: for a one-off check that must write nothing, and for
// tests and simulations.
type Memory struct {
	mu    sync.Mutex
	state State
	// spare is the copy the next Update hands to its fn: it and state swap
	// after each Update that succeeds, so that a replay's checks, one
	// Update each, allocate no copy once warm. Only Update touches it.
	spare State
}

// NewMemory returns a Memory holding a copy of s.
func NewMemory(s State) *Memory {
	if s.Version == 0 {
		s.Version = SchemaVersion
	}
	return &Memory{state: s.Clone()}
}

// View returns a copy of the state.
func (m *Memory) View(ctx context.Context) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state.Clone(), nil
}

// Update applies fn to a copy of the state and keeps the copy when fn
// returns nil and the result is valid.
func (m *Memory) Update(ctx context.Context, fn func(*State) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state.CopyTo(&m.spare)
	if err := fn(&m.spare); err != nil {
		return err
	}
	if err := m.spare.Validate(); err != nil {
		return err
	}
	m.state, m.spare = m.spare, m.state
	return nil
}
