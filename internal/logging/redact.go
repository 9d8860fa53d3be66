package logging

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// redactingCore redacts every value of an entry before its core encodes
// it: the message, the logger name, the stack and each field, keys
// included. Redacting values rather than encoded lines keeps every line
// what the encoder makes of it: valid JSON whatever the secret, even one
// that is JSON syntax itself ("}", ":", "false").
type redactingCore struct {
	zapcore.Core
	redact func(string) string
}

// With redacts fields before the core keeps them for every later entry.
func (c redactingCore) With(fields []zapcore.Field) zapcore.Core {
	return redactingCore{Core: c.Core.With(c.fields(fields)), redact: c.redact}
}

// Check adds c, rather than the core it wraps, so that Write redacts.
func (c redactingCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

// Write redacts the entry and its fields, then writes them.
func (c redactingCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	ent.Message = c.redact(ent.Message)
	ent.LoggerName = c.redact(ent.LoggerName)
	ent.Stack = c.redact(ent.Stack)
	return c.Core.Write(ent, c.fields(fields))
}

// fields returns fields redacted. Each field is first encoded to plain Go
// values by a zapcore.MapObjectEncoder, whatever its kind (error, stringer,
// object, array, reflected value); those values are redacted and put back
// in fields the encoder writes as it would have written the originals. A
// field that encodes to several keys (an error's "errorVerbose") gives one
// field a key, in the order of the keys.
func (c redactingCore) fields(fields []zapcore.Field) []zapcore.Field {
	out := make([]zapcore.Field, 0, len(fields))
	for _, f := range fields {
		switch f.Type {
		case zapcore.SkipType:
		case zapcore.NamespaceType:
			out = append(out, zap.Namespace(c.redact(f.Key)))
		case zapcore.StringType: // the common cases, without the detour
			out = append(out, zap.String(c.redact(f.Key), c.redact(f.String)))
		case zapcore.BoolType:
			f.Key = c.redact(f.Key)
			out = append(out, f)
		case zapcore.Int64Type, zapcore.Int32Type, zapcore.Int16Type, zapcore.Int8Type:
			out = append(out, c.number(f, strconv.FormatInt(f.Integer, 10)))
		case zapcore.Uint64Type, zapcore.Uint32Type, zapcore.Uint16Type, zapcore.Uint8Type:
			out = append(out, c.number(f, strconv.FormatUint(uint64(f.Integer), 10)))
		default:
			enc := zapcore.NewMapObjectEncoder()
			f.AddTo(enc)
			for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
				out = append(out, field(c.redact(k), c.value(enc.Fields[k])))
			}
		}
	}
	return out
}

// number returns f, a whole number written as text, with its key redacted,
// or a string of text redacted when text holds a secret.
func (c redactingCore) number(f zapcore.Field, text string) zapcore.Field {
	key := c.redact(f.Key)
	if r := c.redact(text); r != text {
		return zap.String(key, r)
	}
	f.Key = key
	return f
}

// value returns v, a value a MapObjectEncoder holds, with every string in
// it redacted: map keys, strings, and the text of numbers, times and
// durations, which become strings when their text holds a secret (a secret
// of digits logged as a number). Booleans and null hold no text: they stay
// as they are, so a secret "false" does not turn false into a string.
func (c redactingCore) value(v any) any {
	switch v := v.(type) {
	case nil, bool:
		return v
	case string:
		return c.redact(v)
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[c.redact(k)] = c.value(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = c.value(e)
		}
		return s
	case []byte: // zap.Binary: written as base64
		return c.redact(base64.StdEncoding.EncodeToString(v))
	case time.Time:
		return c.scalar(v, v.Format(time.RFC3339Nano))
	case time.Duration:
		return c.scalar(v, v.String())
	case json.Number, complex128, complex64, float64, float32,
		int, int64, int32, int16, int8, uint, uint64, uint32, uint16, uint8, uintptr:
		return c.scalar(v, fmt.Sprint(v))
	default: // a reflected value: what the JSON encoder would write of it
		return c.value(reflected(v))
	}
}

// scalar returns v, or text redacted when text holds a secret.
func (c redactingCore) scalar(v any, text string) any {
	if r := c.redact(text); r != text {
		return r
	}
	return v
}

// reflected returns v encoded to JSON as zap's JSON encoder does it, then
// decoded to plain values. A value JSON cannot encode gives the error's
// text, as zap gives it.
func reflected(v any) any {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err.Error()
	}
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return err.Error()
	}
	return out
}

// field is a field the encoder writes as it writes v, a redacted value.
func field(key string, v any) zapcore.Field {
	switch v := v.(type) {
	case string:
		return zap.String(key, v)
	case map[string]any:
		return zap.Object(key, object(v))
	case []any:
		return zap.Array(key, array(v))
	default: // scalars, times and durations keep their own encoding
		return zap.Any(key, v)
	}
}

// object is a redacted map, written with its keys in order.
type object map[string]any

// MarshalLogObject writes the map's keys in order.
func (o object) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, k := range slices.Sorted(maps.Keys(o)) {
		field(k, o[k]).AddTo(enc)
	}
	return nil
}

// array is a redacted list.
type array []any

// MarshalLogArray writes the list's values.
func (a array) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, v := range a {
		var err error
		switch v := v.(type) {
		case string:
			enc.AppendString(v)
		case map[string]any:
			err = enc.AppendObject(object(v))
		case []any:
			err = enc.AppendArray(array(v))
		case time.Time:
			enc.AppendTime(v)
		case time.Duration:
			enc.AppendDuration(v)
		case bool:
			enc.AppendBool(v)
		case float64: // NaN and infinities too, which JSON cannot encode
			enc.AppendFloat64(v)
		case float32:
			enc.AppendFloat32(v)
		case complex128:
			enc.AppendComplex128(v)
		case complex64:
			enc.AppendComplex64(v)
		default: // whole numbers and null: JSON writes them as zap does
			err = enc.AppendReflected(v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
