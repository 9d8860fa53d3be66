package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// State is the answer of GET /_sim/state.
type State struct {
	Now        time.Time       `json:"now"`
	Started    time.Time       `json:"started"`
	Balance    decimal.Decimal `json:"balance"`
	AutoReload bool            `json:"auto_reload"`
	Lowest     decimal.Decimal `json:"lowest"`
	LowestAt   time.Time       `json:"lowest_at"`
	// Scripted is how many scripted faults are still queued per endpoint.
	Scripted map[Endpoint]int `json:"scripted"`
}

// serveControl lets a test or an operator drive a simulator that runs as
// its own process, without credentials (bind it to loopback or a private
// network):
//
//	GET  /_sim/stats        Stats as JSON
//	GET  /_sim/topups       []TopUp as JSON
//	GET  /_sim/state        State as JSON
//	POST /_sim/balance      value=12.5          SetBalance
//	POST /_sim/drain        amount=3            Drain
//	POST /_sim/auto-reload  enabled=false       SetAutoReload
//	POST /_sim/script       endpoint=top-up&fault=reset_after_apply&fault=none
//
// A POST answers 204; a bad value answers 400 with the problem.
func (a *Account) serveControl(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, ControlPrefix)
	if r.Method == http.MethodGet {
		a.serveControlGet(w, name)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "read form: "+err.Error(), http.StatusBadRequest)
		return
	}
	err := a.controlPost(name, r)
	switch {
	case errors.Is(err, errNotFound):
		http.NotFound(w, r)
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

var errNotFound = errors.New("not found")

func (a *Account) serveControlGet(w http.ResponseWriter, name string) {
	var v any
	switch name {
	case "stats":
		v = a.Stats()
	case "topups":
		v = a.TopUps()
	case "state":
		v = a.State()
	default:
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (a *Account) controlPost(name string, r *http.Request) error {
	switch name {
	case "balance":
		d, err := decimal.NewFromString(r.PostForm.Get("value"))
		if err != nil {
			return fmt.Errorf("value: %w", err)
		}
		a.SetBalance(d)
	case "drain":
		d, err := decimal.NewFromString(r.PostForm.Get("amount"))
		if err != nil {
			return fmt.Errorf("amount: %w", err)
		}
		a.Drain(d)
	case "auto-reload":
		on, err := strconv.ParseBool(r.PostForm.Get("enabled"))
		if err != nil {
			return fmt.Errorf("enabled: %w", err)
		}
		a.SetAutoReload(on)
	case "script":
		return a.controlScript(r)
	default:
		return errNotFound
	}
	return nil
}

func (a *Account) controlScript(r *http.Request) error {
	ep, err := ParseEndpoint(r.PostForm.Get("endpoint"))
	if err != nil {
		return err
	}
	var faults []Fault
	for _, v := range r.PostForm["fault"] {
		for s := range strings.SplitSeq(v, ",") {
			f, err := ParseFault(strings.TrimSpace(s))
			if err != nil {
				return err
			}
			faults = append(faults, f)
		}
	}
	return a.Script(ep, faults...)
}

// State is a snapshot of the account.
func (a *Account) State() State {
	lowest, at := a.Lowest()
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	return State{
		Now:        now,
		Started:    a.start,
		Balance:    a.balanceAt(now).Round(balancePlaces),
		AutoReload: a.autoReload,
		Lowest:     lowest,
		LowestAt:   at,
		Scripted: map[Endpoint]int{
			EndpointBalance: len(a.script[EndpointBalance]),
			EndpointTopUp:   len(a.script[EndpointTopUp]),
		},
	}
}
