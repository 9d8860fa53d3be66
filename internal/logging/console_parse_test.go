package logging

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// consoleEntries splits console output into its entries: a line, and the
// indented lines after it.
func consoleEntries(out string) []string {
	var entries []string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if strings.HasPrefix(l, consoleIndent) && len(entries) > 0 {
			entries[len(entries)-1] += "\n" + l
			continue
		}
		entries = append(entries, l)
	}
	return entries
}

// consoleEntry is an entry read back: what a person reads, and what a
// program could.
type consoleEntry struct {
	time, level string
	words       []string       // the message
	fields      map[string]any // decoded: strings unquoted, JSON decoded
}

// parseConsole reads an entry back: its time, level, message words, then
// key=value fields whose values are bare, Go-quoted or JSON. It fails on
// what the encoder should never write: a quote that does not end, a value
// that runs into the next field.
func parseConsole(e string) (consoleEntry, error) {
	c := consoleEntry{fields: map[string]any{}}
	rest := strings.Join(strings.Split(e, "\n"+consoleIndent), " ")
	var ok bool
	if c.time, rest, ok = strings.Cut(rest, " "); !ok {
		return c, errors.New("no level")
	}
	c.level, rest, _ = strings.Cut(strings.TrimLeft(rest, " "), " ")
	rest = strings.TrimLeft(rest, " ")
	for rest != "" {
		key, value, after, err := parseField(rest)
		switch {
		case err != nil:
			return c, err
		case key == "": // a word of the message
			word, r, _ := strings.Cut(rest, " ")
			c.words, rest = append(c.words, word), r
			continue
		}
		c.fields[key] = value
		if after != "" && after[0] != ' ' {
			return c, errors.New("a value runs into what follows it: " + strconv.Quote(after))
		}
		rest = strings.TrimPrefix(after, " ")
	}
	return c, nil
}

// parseField reads key=value at the start of s; key is "" when s does not
// start with one.
func parseField(s string) (key string, value any, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", nil, "", err
		}
		if key, err = strconv.Unquote(q); err != nil {
			return "", nil, "", err
		}
		s = s[len(q):]
	} else {
		end := strings.IndexAny(s, ` ="`)
		if end <= 0 || s[end] != '=' {
			return "", nil, s, nil
		}
		key, s = s[:end], s[end:]
	}
	if !strings.HasPrefix(s, "=") {
		return "", nil, "", errors.New("a quoted key without a value")
	}
	s = s[1:]
	switch {
	case strings.HasPrefix(s, `"`):
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", nil, "", err
		}
		v, err := strconv.Unquote(q)
		return key, v, s[len(q):], err
	case strings.HasPrefix(s, "{"), strings.HasPrefix(s, "["):
		dec := json.NewDecoder(strings.NewReader(s))
		var v any
		if err := dec.Decode(&v); err == nil {
			return key, v, s[dec.InputOffset():], nil
		}
	}
	v, after, found := strings.Cut(s, " ")
	if found {
		after = " " + after
	}
	return key, bare(v), after, nil
}

// bare is a bare value: a JSON literal (false, a number) as JSON reads it,
// anything else as a string.
func bare(v string) any {
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	var lit any
	if err := dec.Decode(&lit); err == nil && !dec.More() {
		if _, isString := lit.(string); !isString {
			return lit
		}
	}
	return v
}
