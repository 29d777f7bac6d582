package schema

import (
	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// Events are decoded once by the dispatcher, tasks and attempts once per
// attempt by the deliverer and the sink, and encoding/json's decoder was a
// large share of hookstream's CPU at full speed (it validates the whole
// input before decoding it, and decodes by reflection field by field).
// encoding/json/v2, here from its mirror module until Go 1.27 makes it
// standard, decodes the same JSON with encoding/json's own semantics
// (v1Options) for much less: BenchmarkDecodeTask, and the figures in
// docs/performance.md.
var v1Options = jsonv1.DefaultOptionsV1()

func unmarshal(b []byte, v any) error { return jsonv2.Unmarshal(b, v, v1Options) }

func marshal(v any) ([]byte, error) { return jsonv2.Marshal(v, v1Options) }
