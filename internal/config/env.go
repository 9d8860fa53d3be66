package config

import (
	"errors"

	"github.com/caarlos0/env/v11"
)

// The environment variables, as the tags of rawEnv spell them.
const (
	varAPIKey            = "VONAGE_API_KEY"
	varAPISecret         = "VONAGE_API_SECRET"
	varAPISecretFile     = "VONAGE_API_SECRET_FILE"
	varTRX               = "VONAGE_TOPUP_TRX"
	varTRXFile           = "VONAGE_TOPUP_TRX_FILE"
	varBaseURL           = "VONAGE_BASE_URL"
	varAuth              = "VONAGE_AUTH"
	varThreshold         = "TOPUP_THRESHOLD"
	varTarget            = "TOPUP_TARGET"
	varSchedule          = "TOPUP_SCHEDULE"
	varWindow            = "TOPUP_WINDOW"
	varAmount            = "TOPUP_AMOUNT"
	varMaxPerDay         = "TOPUP_MAX_PER_DAY"
	varDryRun            = "TOPUP_DRY_RUN"
	varPolicy            = "TOPUP_POLICY"
	varLeadTime          = "TOPUP_LEAD_TIME"
	varStateFile         = "TOPUP_STATE_FILE"
	varRequestTimeout    = "TOPUP_REQUEST_TIMEOUT"
	varListenAddr        = "TOPUP_LISTEN_ADDR"
	varLogLevel          = "TOPUP_LOG_LEVEL"
	varLogFormat         = "TOPUP_LOG_FORMAT"
	varAllowInsecureHTTP = "TOPUP_ALLOW_INSECURE_HTTP"
	varNotifyURL         = "TOPUP_NOTIFY_URL"
	varNotifyFormat      = "TOPUP_NOTIFY_FORMAT"
	varRedisURL          = "TOPUP_REDIS_URL"
	varRedisURLFile      = "TOPUP_REDIS_URL_FILE"
	varRedisPrefix       = "TOPUP_REDIS_PREFIX"
	varRedisMinReplicas  = "TOPUP_REDIS_MIN_REPLICAS"
)

// rawEnv is the environment as text, before any conversion. Its tags are the
// one list of the variables the program reads and of their defaults. An
// empty value counts as unset: the default applies.
type rawEnv struct {
	APIKey            string `env:"VONAGE_API_KEY,notEmpty"`
	APISecret         string `env:"VONAGE_API_SECRET"`
	APISecretFile     string `env:"VONAGE_API_SECRET_FILE"`
	TRX               string `env:"VONAGE_TOPUP_TRX"`
	TRXFile           string `env:"VONAGE_TOPUP_TRX_FILE"`
	BaseURL           string `env:"VONAGE_BASE_URL" envDefault:"https://rest.nexmo.com"`
	Auth              string `env:"VONAGE_AUTH" envDefault:"basic"`
	Threshold         string `env:"TOPUP_THRESHOLD,notEmpty"`
	Target            string `env:"TOPUP_TARGET"`
	Schedule          string `env:"TOPUP_SCHEDULE" envDefault:"@every 30s"`
	Window            string `env:"TOPUP_WINDOW" envDefault:"15m"`
	Amount            string `env:"TOPUP_AMOUNT"`
	MaxPerDay         string `env:"TOPUP_MAX_PER_DAY" envDefault:"5"`
	DryRun            string `env:"TOPUP_DRY_RUN" envDefault:"false"`
	Policy            string `env:"TOPUP_POLICY" envDefault:"threshold"`
	LeadTime          string `env:"TOPUP_LEAD_TIME" envDefault:"auto"`
	StateFile         string `env:"TOPUP_STATE_FILE" envDefault:"topup-state.json"`
	RequestTimeout    string `env:"TOPUP_REQUEST_TIMEOUT" envDefault:"10s"`
	ListenAddr        string `env:"TOPUP_LISTEN_ADDR" envDefault:":9090"`
	LogLevel          string `env:"TOPUP_LOG_LEVEL" envDefault:"info"`
	LogFormat         string `env:"TOPUP_LOG_FORMAT" envDefault:"json"`
	AllowInsecureHTTP string `env:"TOPUP_ALLOW_INSECURE_HTTP" envDefault:"false"`
	NotifyURL         string `env:"TOPUP_NOTIFY_URL"`
	NotifyFormat      string `env:"TOPUP_NOTIFY_FORMAT" envDefault:"json"`
	RedisURL          string `env:"TOPUP_REDIS_URL"`
	RedisURLFile      string `env:"TOPUP_REDIS_URL_FILE"`
	RedisPrefix       string `env:"TOPUP_REDIS_PREFIX" envDefault:"topup-watchdog"`
	RedisMinReplicas  string `env:"TOPUP_REDIS_MIN_REPLICAS" envDefault:"0"`
}

// errRequired is the problem of a required variable that is empty or unset.
var errRequired = errors.New("required, but empty or unset")

// Variables returns the name of every environment variable the program
// reads, in the order of the configuration table.
func Variables() []string {
	names, err := variableNames()
	if err != nil {
		// rawEnv's tags are constant; TestVariables would fail first.
		panic("config: bad env tags: " + err.Error())
	}
	return names
}

func variableNames() ([]string, error) {
	params, err := env.GetFieldParamsWithOptions(&rawEnv{}, env.Options{Environment: map[string]string{}})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(params))
	for _, p := range params {
		names = append(names, p.Key)
	}
	return names, nil
}

// parseRaw reads every variable through lookupenv into a rawEnv. It returns
// env's own problems keyed by variable; a problem env does not tie to a
// variable is returned in other.
func parseRaw(lookupenv func(string) (string, bool)) (raw rawEnv, byVar map[string]error, other []error) {
	names, err := variableNames()
	if err != nil {
		return raw, nil, []error{err}
	}
	m := make(map[string]string, len(names))
	for _, name := range names {
		if v, ok := lookupenv(name); ok {
			m[name] = v
		}
	}
	err = env.ParseWithOptions(&raw, env.Options{Environment: m})
	byVar, other = sortEnvErrors(err)
	return raw, byVar, other
}

// sortEnvErrors turns env's aggregated error into problems in this package's
// words.
func sortEnvErrors(err error) (byVar map[string]error, other []error) {
	byVar = map[string]error{}
	if err == nil {
		return byVar, nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return byVar, []error{err}
	}
	for _, e := range agg.Errors {
		var empty env.EmptyVarError
		var unset env.VarIsNotSetError
		switch {
		case errors.As(e, &empty):
			byVar[empty.Key] = errRequired
		case errors.As(e, &unset):
			byVar[unset.Key] = errRequired
		default:
			other = append(other, e)
		}
	}
	return byVar, other
}
