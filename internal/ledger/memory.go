package ledger

import (
	"context"
	"sync"
)

// ReadFile returns the state in the ledger file at path without taking its
// lock or writing anything, for a look beside a running watchdog. A missing
// file is an empty state.
func ReadFile(path string) (State, error) {
	s, _, err := read(path)
	return s, err
}

// Memory is a ledger that keeps its state in memory: for a one-off check
// that must write nothing, and for tests and simulations.
type Memory struct {
	mu    sync.Mutex
	state State
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
	c := m.state.Clone()
	if err := fn(&c); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	m.state = c
	return nil
}
