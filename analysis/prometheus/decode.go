package prometheus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/prometheus/common/model"
)

// ErrDecode is wrapped by errors about responses that are not what the
// Prometheus HTTP API documents: malformed JSON, a missing field, an
// unknown result type, a sample that is not a [time, "value"] pair.
var ErrDecode = errors.New("malformed response")

// envelope is the API's response object
// (https://prometheus.io/docs/prometheus/latest/querying/api/#format-overview):
//
//	{"status": "success"|"error", "data": ..., "errorType": "...",
//	 "error": "...", "warnings": [...], "infos": [...]}
type envelope struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
	Infos     []string        `json:"infos"`
}

// queryData is the data of a query answer: {"resultType": ..., "result": ...}.
type queryData struct {
	ResultType *string         `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// decodeResponse turns an HTTP status and body from /api/v1/query or
// /api/v1/query_range into a Response, or an *APIError, or an error
// wrapping ErrDecode.
func decodeResponse(status int, body []byte) (Response, error) {
	var env envelope
	jsonErr := json.Unmarshal(body, &env)
	ok2xx := status >= 200 && status <= 299
	switch {
	case jsonErr != nil || (env.Status != "success" && env.Status != "error"):
		if !ok2xx {
			return Response{}, &APIError{StatusCode: status, Message: snippet(body)}
		}
		if jsonErr != nil {
			return Response{}, fmt.Errorf("prometheus: %w: not JSON (%v): %s", ErrDecode, jsonErr, snippet(body))
		}
		return Response{}, fmt.Errorf("prometheus: %w: status %q, want \"success\" or \"error\": %s", ErrDecode, env.Status, snippet(body))
	case env.Status == "error":
		msg := env.Error
		if msg == "" {
			msg = "(no message)"
		}
		return Response{}, &APIError{StatusCode: status, Type: env.ErrorType, Message: msg}
	case !ok2xx:
		return Response{}, &APIError{StatusCode: status, Message: "status \"success\" with a non-2xx HTTP status: " + snippet(body)}
	}

	warnings := append(append([]string(nil), env.Warnings...), env.Infos...)
	if isNull(env.Data) {
		return Response{}, fmt.Errorf("prometheus: %w: no data", ErrDecode)
	}
	var d queryData
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return Response{}, fmt.Errorf("prometheus: %w: data: %v", ErrDecode, err)
	}
	if d.ResultType == nil {
		return Response{}, fmt.Errorf("prometheus: %w: data.resultType is missing", ErrDecode)
	}
	if d.Result == nil {
		return Response{}, fmt.Errorf("prometheus: %w: data.result is missing", ErrDecode)
	}
	v, err := decodeValue(*d.ResultType, d.Result)
	if err != nil {
		return Response{}, fmt.Errorf("prometheus: %w: data.result (%s): %v", ErrDecode, *d.ResultType, err)
	}
	return Response{Value: v, Warnings: warnings}, nil
}

func isNull(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || bytes.Equal(b, []byte("null"))
}

// decodeValue decodes a result of the given type strictly: a sample
// missing its value is an error, not a zero.
func decodeValue(resultType string, raw json.RawMessage) (model.Value, error) {
	switch resultType {
	case "vector":
		var in []*sampleJSON
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, err
		}
		out := make(model.Vector, 0, len(in))
		for i, s := range in {
			if s == nil {
				return nil, fmt.Errorf("sample %d is null", i)
			}
			switch {
			case s.Value != nil && s.Histogram != nil:
				return nil, fmt.Errorf("sample %d %s has both a value and a histogram", i, s.Metric)
			case s.Value != nil:
				out = append(out, &model.Sample{Metric: s.Metric, Timestamp: s.Value.t, Value: s.Value.v})
			case s.Histogram != nil && s.Histogram.Histogram != nil:
				out = append(out, &model.Sample{Metric: s.Metric, Timestamp: s.Histogram.Timestamp, Histogram: s.Histogram.Histogram})
			default:
				return nil, fmt.Errorf("sample %d %s has no value", i, s.Metric)
			}
		}
		return out, nil
	case "matrix":
		var in []*streamJSON
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, err
		}
		out := make(model.Matrix, 0, len(in))
		for i, s := range in {
			if s == nil {
				return nil, fmt.Errorf("series %d is null", i)
			}
			ss := &model.SampleStream{Metric: s.Metric, Histograms: s.Histograms}
			if len(s.Values) > 0 {
				ss.Values = make([]model.SamplePair, len(s.Values))
				for j, p := range s.Values {
					if !p.set {
						return nil, fmt.Errorf("series %d %s: point %d is null", i, s.Metric, j)
					}
					ss.Values[j] = model.SamplePair{Timestamp: p.t, Value: p.v}
				}
			}
			for j, h := range s.Histograms {
				if h.Histogram == nil {
					return nil, fmt.Errorf("series %d %s: histogram point %d is empty", i, s.Metric, j)
				}
			}
			out = append(out, ss)
		}
		return out, nil
	case "scalar":
		var p pairJSON
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		if !p.set {
			return nil, errors.New("scalar is null")
		}
		return &model.Scalar{Timestamp: p.t, Value: p.v}, nil
	case "string":
		var parts []json.RawMessage
		if err := json.Unmarshal(raw, &parts); err != nil {
			return nil, err
		}
		if len(parts) != 2 {
			return nil, fmt.Errorf("string has %d elements, want [time, \"text\"]", len(parts))
		}
		s := &model.String{}
		if err := s.Timestamp.UnmarshalJSON(parts[0]); err != nil {
			return nil, fmt.Errorf("string time: %v", err)
		}
		if err := json.Unmarshal(parts[1], &s.Value); err != nil {
			return nil, fmt.Errorf("string text: %v", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("unknown result type %q (want vector, matrix, scalar or string)", resultType)
}

type sampleJSON struct {
	Metric    model.Metric               `json:"metric"`
	Value     *pairJSON                  `json:"value"`
	Histogram *model.SampleHistogramPair `json:"histogram"`
}

type streamJSON struct {
	Metric     model.Metric                `json:"metric"`
	Values     []pairJSON                  `json:"values"`
	Histograms []model.SampleHistogramPair `json:"histograms"`
}

// pairJSON is a [time, "value"] pair that must have exactly two elements
// (model.SamplePair would silently leave a missing value at 0).
type pairJSON struct {
	t   model.Time
	v   model.SampleValue
	set bool
}

func (p *pairJSON) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	if len(parts) != 2 {
		return fmt.Errorf("point %s has %d elements, want [time, \"value\"]", b, len(parts))
	}
	if err := p.t.UnmarshalJSON(parts[0]); err != nil {
		return fmt.Errorf("point time %s: %v", parts[0], err)
	}
	if err := p.v.UnmarshalJSON(parts[1]); err != nil {
		return fmt.Errorf("point value %s: %v", parts[1], err)
	}
	p.set = true
	return nil
}
