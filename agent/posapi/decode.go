package posapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxBody is the largest request body the API reads, in bytes.
const MaxBody = 64 << 10

// The field of a 400 about the request as a whole: its body (empty, not a
// JSON object, malformed JSON, not UTF-8) or its query string.
const (
	fieldBody  = "body"
	fieldQuery = "query"
)

// decodeBody reads the JSON body of r into v, strictly: Content-Type
// application/json, at most MaxBody bytes, UTF-8, one JSON object and
// nothing after it, only the fields of v spelled exactly, no duplicates, no
// nulls, and integers where v has integers (money is minor units: 12.5 is
// refused, not rounded). A body that is wrong yields a *requestError naming
// the field. An empty body is an empty object when optional, else refused.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &requestError{status: http.StatusRequestEntityTooLarge, body: apiError{Code: codeTooLarge,
				Message: fmt.Sprintf("the body is larger than %d bytes", MaxBody)}}
		}
		return invalidRequest(fieldBody, "the body could not be read: "+err.Error())
	}
	switch {
	case len(bytes.TrimSpace(body)) == 0 && optional:
		return nil
	case len(bytes.TrimSpace(body)) == 0:
		return invalidRequest(fieldBody, "the body is empty: send a JSON object")
	}
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if !utf8.Valid(body) {
		return invalidRequest(fieldBody, "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := checkValue(dec, reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidRequest(fieldBody, fmt.Sprintf("unexpected data after the JSON object at byte %d", dec.InputOffset()))
	}
	if err := json.Unmarshal(body, v); err != nil { // cannot fail after checkValue
		return invalidRequest(fieldBody, err.Error())
	}
	return nil
}

func checkContentType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		if cs, ok := params["charset"]; !ok || strings.EqualFold(cs, "utf-8") {
			return nil
		}
	}
	if ct == "" {
		ct = "none"
	}
	return &requestError{status: http.StatusUnsupportedMediaType, body: apiError{Code: codeMediaType,
		Message: fmt.Sprintf("Content-Type must be application/json, not %s", ct), Field: "Content-Type",
		Reason: "must be application/json"}}
}

var integerPattern = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// checkValue reads one JSON value from dec and checks it against the Go
// type t that it will be decoded into. path names the value in errors,
// the way the agent names fields: "lines[2].amount".
func checkValue(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(dec, path, err)
	}
	if tok == nil {
		if path == "" {
			return invalidRequest(fieldBody, "the body must be a JSON object")
		}
		return invalidRequest(path, "must not be null: leave the field out instead")
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if tok != json.Delim('{') {
			if path == "" {
				return invalidRequest(fieldBody, "the body must be a JSON object")
			}
			return invalidRequest(path, "must be an object")
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return syntaxError(dec, path, err)
			}
			key := tok.(string) // an object's keys are strings, or Token errs
			field := join(path, key)
			f, ok := fieldByJSONName(t, key)
			switch {
			case !ok:
				return invalidRequest(field, "is not a field of this request")
			case seen[key]:
				return invalidRequest(field, "is given twice")
			}
			seen[key] = true
			if err := checkValue(dec, f.Type, field); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // the closing brace
			return syntaxError(dec, path, err)
		}
	case reflect.Slice:
		if tok != json.Delim('[') {
			return invalidRequest(path, "must be an array")
		}
		for i := 0; dec.More(); i++ {
			if err := checkValue(dec, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return syntaxError(dec, path, err)
		}
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return invalidRequest(path, "must be a string")
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return invalidRequest(path, "must be true or false")
		}
	case reflect.Int64, reflect.Int:
		n, ok := tok.(json.Number)
		if !ok {
			return invalidRequest(path, "must be an integer")
		}
		if !integerPattern.MatchString(n.String()) {
			return invalidRequest(path, fmt.Sprintf("must be an integer, not %s (money is in minor units: 12.50 NOK is 1250)", n))
		}
		if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
			return invalidRequest(path, "is too large")
		}
	default:
		return fmt.Errorf("posapi: cannot check JSON for a %s", t) // a bug of this package
	}
	return nil
}

// fieldByJSONName finds the field of struct t named name in JSON, exactly
// (encoding/json would also take a name in another case).
func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func join(path, key string) string {
	if key == "" {
		key = `""` // a field must be named, even the empty one
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func syntaxError(dec *json.Decoder, path string, err error) error {
	if path == "" {
		path = fieldBody
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return invalidRequest(path, "malformed JSON: the body ends in the middle of a value")
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return invalidRequest(path, fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: ")))
	}
	return invalidRequest(path, fmt.Sprintf("malformed JSON at byte %d: %s", dec.InputOffset(), strings.TrimPrefix(err.Error(), "json: ")))
}

// query reads the query of r: only the parameters named in allowed, each at
// most once.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalidRequest(fieldQuery, "malformed query string: "+err.Error())
	}
	for name, vs := range q {
		switch {
		case !slices.Contains(allowed, name) && len(allowed) == 0:
			return nil, invalidRequest(name, "is not a parameter of this route: it takes none")
		case !slices.Contains(allowed, name):
			return nil, invalidRequest(name, "is not a parameter of this route: it takes "+strings.Join(allowed, ", "))
		case len(vs) > 1:
			return nil, invalidRequest(name, "is given more than once")
		}
	}
	return q, nil
}

// queryUint parses the decimal parameter name of q, def when absent, and
// checks it is within [min, max].
func queryUint(q url.Values, name string, def, min, max uint64) (uint64, error) {
	s := q.Get(name)
	if !q.Has(name) {
		return def, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || (len(s) > 1 && s[0] == '0') {
		return 0, invalidRequest(name, fmt.Sprintf("must be a whole number from %d to %d", min, max))
	}
	if n < min || n > max {
		return 0, invalidRequest(name, fmt.Sprintf("must be from %d to %d", min, max))
	}
	return n, nil
}
