package main

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// misnamedKafkaGauges are the two gauges kprom names like counters
// (…_records_total), which promtool rejects; their _bytes twins say the
// same in bytes. /metrics leaves them out.
var misnamedKafkaGauges = []string{
	"hookstream_kafka_buffered_produce_records_total",
	"hookstream_kafka_buffered_fetch_records_total",
}

// withoutFamilies is a Gatherer that leaves out the metric families named.
type withoutFamilies struct {
	prometheus.Gatherer
	names []string
}

func (g withoutFamilies) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := g.Gatherer.Gather()
	return slices.DeleteFunc(mfs, func(mf *dto.MetricFamily) bool { return slices.Contains(g.names, mf.GetName()) }), err
}
