package sim

import (
	"context"
	"net/http"

	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// AuthDirect is the AuthStyle of the requests of a Direct client, which
// presents no credentials: it is the account's own.
const AuthDirect AuthStyle = "direct"

// Direct calls the account in process, without HTTP: a client with the
// methods of the watchdog's Vonage interface, for a replay in simulated
// time (the backtest). Its calls go through the same model as the handler's
// requests: they count in Stats, a top-up is recorded in TopUps and
// credited CreditDelay after it, and with auto-reload off it is refused as
// the handler refuses it (401 "not auto-reload enabled"), with the
// *vonage.Error the real client returns for that answer, so the watchdog
// classifies it the same way.
//
// A Direct client has no faults: it never applies Config.Faults nor the
// scripted ones (those stay queued for the handler's requests), and it takes
// no time. A replay that needs the network's faults uses the handler and the
// real client.
type Direct struct{ a *Account }

// Direct returns a client calling a in process.
func (a *Account) Direct() Direct { return Direct{a: a} }

// GetBalance returns the balance now, rounded to 8 decimal places as the
// handler answers it. It fails only when ctx has ended, as a request
// that never left.
func (d Direct) GetBalance(ctx context.Context) (vonage.Balance, error) {
	if err := ctx.Err(); err != nil {
		return vonage.Balance{}, &vonage.Error{Op: vonage.OpGetBalance, Kind: vonage.KindTransport, Err: err}
	}
	a := d.a
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.notify()
	a.countCall(&call{ep: EndpointBalance, auth: AuthDirect})
	return vonage.Balance{Value: a.balanceAt(a.now()).Round(balancePlaces), AutoReload: a.autoReload}, nil
}

// TopUp asks for a top-up. It is applied (nil) while auto-reload is on, and
// refused with KindAutoReloadDisabled while it is off. It fails without
// reaching the account only when ctx has ended.
func (d Direct) TopUp(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return &vonage.Error{Op: vonage.OpTopUp, Kind: vonage.KindTransport, Err: err}
	}
	a := d.a
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.notify()
	c := &call{ep: EndpointTopUp, auth: AuthDirect, authOK: true, trx: a.trx}
	a.countCall(c)
	res := a.judgeTopUp(c)
	ans := topUpAnswer(res, false)
	a.recordTopUp(c, a.now(), res, ans.status)
	switch {
	case res == ResultApplied:
		return nil
	case res == ResultAutoReloadDisabled:
		return &vonage.Error{Op: vonage.OpTopUp, Kind: vonage.KindAutoReloadDisabled, Status: ans.status, Sent: true}
	default: // not reached: a direct call has the account's credentials and trx
		return &vonage.Error{Op: vonage.OpTopUp, Kind: vonage.KindAuthFailed, Status: http.StatusUnauthorized, Sent: true}
	}
}
