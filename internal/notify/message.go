package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The body formats of Options.Format.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
)

// message is one notification, before it is encoded.
type message struct {
	event   string
	at      time.Time
	balance string
	fields  []field
}

// field is one event-specific fact of a message. value is a string, an int
// or an int64.
type field struct {
	key   string
	value any
}

func f(key string, value any) field { return field{key: key, value: value} }

// body encodes m in the given format for the account.
func (m message) body(format, account string) []byte {
	if format == FormatSlack {
		b, _ := json.Marshal(struct {
			Text string `json:"text"`
		}{m.text(account)})
		return b
	}
	return m.json(account)
}

// json is m as one JSON object: event, ts, account, balance, then the
// event's own fields, in that order.
func (m message) json(account string) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	add := func(key string, value any) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		v, err := json.Marshal(value)
		if err != nil {
			v, _ = json.Marshal(fmt.Sprint(value))
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	add("event", m.event)
	add("ts", m.at.UTC().Format(time.RFC3339))
	add("account", account)
	add("balance", m.balance)
	for _, fl := range m.fields {
		add(fl.key, fl.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// text is m as one human line, with the same facts as its JSON body.
func (m message) text(account string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "topup-watchdog %s: %s", account, headline(m.event))
	if m.balance != "" {
		fmt.Fprintf(&b, "; balance %s EUR", m.balance)
	}
	for _, fl := range m.fields {
		fmt.Fprintf(&b, "; %s %v", strings.ReplaceAll(fl.key, "_", " "), fl.value)
	}
	fmt.Fprintf(&b, " (%s, %s)", m.event, m.at.UTC().Format(time.RFC3339))
	return b.String()
}
