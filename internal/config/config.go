package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/shopspring/decimal"
	"go.uber.org/zap/zapcore"

	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// Config is the validated configuration of the watchdog.
type Config struct {
	// APIKey is VONAGE_API_KEY.
	APIKey string
	// APISecret is VONAGE_API_SECRET, or the trimmed content of the file
	// VONAGE_API_SECRET_FILE names. Never log it.
	APISecret string
	// TRX is VONAGE_TOPUP_TRX, or the trimmed content of the file
	// VONAGE_TOPUP_TRX_FILE names. Never log it.
	TRX string
	// BaseURL is VONAGE_BASE_URL without a trailing slash.
	BaseURL string
	// Auth is VONAGE_AUTH.
	Auth vonage.Auth
	// Threshold is TOPUP_THRESHOLD, above 0.
	Threshold decimal.Decimal
	// Target is TOPUP_TARGET, at least Threshold; Threshold when unset.
	Target decimal.Decimal
	// ScheduleSpec is TOPUP_SCHEDULE as given.
	ScheduleSpec string
	// Schedule is ScheduleSpec parsed by ScheduleParser.
	Schedule cron.Schedule
	// Window is TOPUP_WINDOW, above 0, at most MaxWindow and at least four
	// times RequestTimeout.
	Window time.Duration
	// Amount is TOPUP_AMOUNT, what every top-up adds, at least MinAmount;
	// zero when unset (unknown).
	Amount decimal.Decimal
	// MaxPerDay is TOPUP_MAX_PER_DAY, at least 0. 0 means that no top-up
	// is ever sent: every wanted top-up is blocked by the daily cap.
	MaxPerDay int
	// DryRun is TOPUP_DRY_RUN.
	DryRun bool
	// Predictive is TOPUP_POLICY=predictive: a refill also starts when the
	// balance projected LeadTime ahead at the burn rate is below Threshold.
	// False for TOPUP_POLICY=threshold, the default.
	Predictive bool
	// LeadTime is TOPUP_LEAD_TIME, above 0 and at most MaxLeadTime; 0 for
	// auto, the default: the policy then works it out (policy.LeadTimeFor).
	LeadTime time.Duration
	// StateFile is TOPUP_STATE_FILE.
	StateFile string
	// RequestTimeout is TOPUP_REQUEST_TIMEOUT, above 0 and at most
	// MaxRequestTimeout.
	RequestTimeout time.Duration
	// ListenAddr is TOPUP_LISTEN_ADDR, host:port; empty turns the HTTP
	// server off.
	ListenAddr string
	// LogLevel is TOPUP_LOG_LEVEL.
	LogLevel zapcore.Level
	// LogFormat is TOPUP_LOG_FORMAT: "json" or "console".
	LogFormat string
	// AllowInsecureHTTP is TOPUP_ALLOW_INSECURE_HTTP.
	AllowInsecureHTTP bool
	// NotifyURL is TOPUP_NOTIFY_URL; empty turns notifications off. It may
	// carry a token: never log it, log NotifyTarget instead.
	NotifyURL string
	// NotifyFormat is TOPUP_NOTIFY_FORMAT: "json" or "slack".
	NotifyFormat string
	// RedisURL is TOPUP_REDIS_URL, or the trimmed content of the file
	// TOPUP_REDIS_URL_FILE names; empty means no fleet: the ledger is
	// StateFile. It may hold a password: never log it (RedisSecrets).
	RedisURL string
	// RedisPrefix is TOPUP_REDIS_PREFIX.
	RedisPrefix string
	// RedisMinReplicas is TOPUP_REDIS_MIN_REPLICAS, 0 to
	// MaxRedisMinReplicas.
	RedisMinReplicas int
}

// MaxMaxPerDay is the largest TOPUP_MAX_PER_DAY accepted; it bounds the
// ledger, which keeps every top-up that may have reached Vonage for two days.
const MaxMaxPerDay = 1000

// MaxWindow is the largest TOPUP_WINDOW accepted: a credit that takes longer
// than a day is no longer a top-up's, and the ledger keeps two days.
const MaxWindow = 24 * time.Hour

// MinRequestTimeout is the smallest TOPUP_REQUEST_TIMEOUT accepted: an
// attempt over the internet needs a handshake and an answer, and the window
// is at least four of them.
const MinRequestTimeout = time.Second

// MinAmount is the smallest TOPUP_AMOUNT accepted: an auto-reload payment of
// cents is a typo, and would let a refund of cents confirm a top-up.
var MinAmount = decimal.NewFromInt(1)

// MaxRequestTimeout is the largest TOPUP_REQUEST_TIMEOUT accepted.
const MaxRequestTimeout = 5 * time.Minute

// Errors is a configuration that failed validation: every problem found.
type Errors struct {
	// Problems are one line each, such as
	// `TOPUP_THRESHOLD: not a decimal number: "abc"`, in the order of
	// Variables.
	Problems []string
}

// Error returns the problems, one per line.
func (e *Errors) Error() string {
	return strings.Join(e.Problems, "\n")
}

// Load reads the environment through getenv, validates every value and
// reports every problem at once. An empty value counts as unset, so
// TOPUP_LISTEN_ADDR cannot be switched off through Load: use LoadLookup.
func Load(getenv func(string) string) (Config, error) {
	return LoadLookup(func(name string) (string, bool) {
		v := getenv(name)
		return v, v != ""
	})
}

// LoadLookup is Load with a lookup such as os.LookupEnv, which tells an
// empty variable from an unset one. The difference matters only for
// TOPUP_LISTEN_ADDR: set and empty turns the HTTP server off, unset gives
// the default. Every other empty variable counts as unset.
func LoadLookup(lookupenv func(string) (string, bool)) (Config, error) {
	raw, byVar, other := parseRaw(lookupenv)
	if v, ok := lookupenv(varListenAddr); ok && v == "" {
		raw.ListenAddr = ""
	}
	p := &problems{env: byVar}
	for _, err := range other {
		p.lines = append(p.lines, err.Error())
	}
	var c Config
	// The URLs need TOPUP_ALLOW_INSECURE_HTTP first; its problem is
	// reported in its place by loadRuntime.
	var allowErr error
	c.AllowInsecureHTTP, allowErr = parseBool(raw.AllowInsecureHTTP)
	p.loadVonage(&c, raw)
	p.loadPolicy(&c, raw)
	p.loadRuntime(&c, raw, allowErr)
	p.loadNotify(&c, raw)
	p.loadRedis(&c, raw)
	p.checkWindow(c)
	if len(p.lines) > 0 {
		return Config{}, &Errors{Problems: redactProblems(p.lines, raw, c)}
	}
	return c, nil
}

// problems collects the lines of an *Errors.
type problems struct {
	lines []string
	// env holds env's own problems, by variable.
	env map[string]error
}

// add records err, if any, as a problem of the variable name.
func (p *problems) add(name string, err error) {
	if err != nil {
		p.lines = append(p.lines, name+": "+err.Error())
	}
}

// envOK records env's problem with the variable name, if any, and reports
// whether there was none.
func (p *problems) envOK(name string) bool {
	err := p.env[name]
	p.add(name, err)
	return err == nil
}

// loadVonage reads the variables of the Vonage account and API.
func (p *problems) loadVonage(c *Config, raw rawEnv) {
	var err error
	if p.envOK(varAPIKey) {
		c.APIKey = raw.APIKey
	}
	c.APISecret = p.secret(varAPISecret, varAPISecretFile, raw.APISecret, raw.APISecretFile)
	c.TRX = p.secret(varTRX, varTRXFile, raw.TRX, raw.TRXFile)
	c.BaseURL, err = parseBaseURL(raw.BaseURL, c.AllowInsecureHTTP)
	p.add(varBaseURL, err)
	c.Auth, err = parseAuth(raw.Auth)
	p.add(varAuth, err)
}

// loadPolicy reads the variables of the top-up policy and its schedule.
func (p *problems) loadPolicy(c *Config, raw rawEnv) {
	var err error
	thresholdOK := p.envOK(varThreshold)
	if thresholdOK {
		c.Threshold, err = parsePositiveDecimal(raw.Threshold)
		p.add(varThreshold, err)
		thresholdOK = err == nil
	}
	c.Target, err = parseTarget(raw.Target, raw.Threshold, c.Threshold, thresholdOK)
	p.add(varTarget, err)
	c.ScheduleSpec = raw.Schedule
	c.Schedule, err = ParseSchedule(raw.Schedule)
	p.add(varSchedule, err)
	c.Window, err = parseDuration(raw.Window, MaxWindow)
	p.add(varWindow, err)
	if raw.Amount != "" {
		c.Amount, err = parseAmount(raw.Amount)
		p.add(varAmount, err)
	}
	c.MaxPerDay, err = parseCount(raw.MaxPerDay, MaxMaxPerDay)
	p.add(varMaxPerDay, err)
	c.DryRun, err = parseBool(raw.DryRun)
	p.add(varDryRun, err)
	c.Predictive, err = parsePolicy(raw.Policy)
	p.add(varPolicy, err)
	c.LeadTime, err = parseLeadTime(raw.LeadTime)
	p.add(varLeadTime, err)
}

// loadRuntime reads the variables of the process: state, timeouts, HTTP
// server, logging.
func (p *problems) loadRuntime(c *Config, raw rawEnv, allowErr error) {
	var err error
	c.StateFile, err = parsePath(raw.StateFile)
	p.add(varStateFile, err)
	c.RequestTimeout, err = parseDuration(raw.RequestTimeout, MaxRequestTimeout)
	if err == nil && c.RequestTimeout < MinRequestTimeout {
		err = fmt.Errorf("must be at least %s: %q", MinRequestTimeout, raw.RequestTimeout)
	}
	p.add(varRequestTimeout, err)
	c.ListenAddr, err = parseListenAddr(raw.ListenAddr)
	p.add(varListenAddr, err)
	c.LogLevel, err = parseLogLevel(raw.LogLevel)
	p.add(varLogLevel, err)
	c.LogFormat, err = parseChoice(raw.LogFormat, "json", "console")
	p.add(varLogFormat, err)
	p.add(varAllowInsecureHTTP, allowErr)
}

// checkWindow reports a TOPUP_WINDOW that cannot hold one top-up: no attempt
// of a top-up starts once its intent is older than a quarter of the window,
// and an attempt may last TOPUP_REQUEST_TIMEOUT, so a top-up may be in
// flight for a quarter of the window plus one timeout. The window must hold
// that and leave at least as long again for the credit to show: at least
// four timeouts.
func (p *problems) checkWindow(c Config) {
	if c.Window <= 0 || c.RequestTimeout <= 0 || c.Window >= 4*c.RequestTimeout {
		return
	}
	p.add(varWindow, fmt.Errorf("%s cannot hold one top-up: an attempt may take %s %s, and no attempt starts after a quarter of the window; use at least %s",
		ShortDuration(c.Window), varRequestTimeout, ShortDuration(c.RequestTimeout), ShortDuration(4*c.RequestTimeout)))
}

// loadNotify reads the variables of notifications.
func (p *problems) loadNotify(c *Config, raw rawEnv) {
	var err error
	c.NotifyURL, err = parseNotifyURL(raw.NotifyURL, c.AllowInsecureHTTP)
	p.add(varNotifyURL, err)
	c.NotifyFormat, err = parseChoice(raw.NotifyFormat, "json", "slack")
	p.add(varNotifyFormat, err)
}
