package postgres_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/hookstream/hookstream/schema"
)

func claim(tenant, id string, partition int32, offset int64) schema.Claim {
	return schema.Claim{
		Event: schema.Event{ID: id, Tenant: tenant, Type: "invoice.paid", Data: json.RawMessage(`{"n": 1}`),
			CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		Partition: partition,
		Offset:    offset,
	}
}

func onTopic(topic string, c schema.Claim) schema.Claim {
	c.Topic = topic
	return c
}

func TestClaimEvents(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	// Steps run in order on one database: each sees what the previous ones
	// claimed.
	steps := []struct {
		name   string
		claims []schema.Claim
		want   []bool
	}{
		{"first claim is fresh", []schema.Claim{claim("acme", "e1", 0, 10)}, []bool{true}},
		{"same record read again after a crash", []schema.Claim{claim("acme", "e1", 0, 10)}, []bool{true}},
		{"same id at another offset", []schema.Claim{claim("acme", "e1", 0, 11)}, []bool{false}},
		{"same id on another partition", []schema.Claim{claim("acme", "e1", 1, 10)}, []bool{false}},
		{"same id of another tenant", []schema.Claim{claim("other", "e1", 1, 10)}, []bool{true}},
		{
			"duplicates within one batch",
			[]schema.Claim{claim("acme", "e2", 0, 20), claim("acme", "e2", 0, 21), claim("acme", "e3", 0, 22), claim("acme", "e2", 2, 5)},
			[]bool{true, false, true, false},
		},
		{
			"batch mixing a re-read, a duplicate and a new id",
			[]schema.Claim{claim("acme", "e3", 0, 22), claim("acme", "e1", 3, 1), claim("acme", "e4", 0, 30)},
			[]bool{true, false, true},
		},
		// A source's topic: the same partition and offset on another
		// topic is another record.
		{"same id at the same position of a source's topic", []schema.Claim{onTopic("orders", claim("acme", "e1", 0, 10))}, []bool{false}},
		{"a source's record read again", []schema.Claim{onTopic("orders", claim("acme", "e5", 0, 10)), onTopic("orders", claim("acme", "e5", 0, 10))}, []bool{true, true}},
		{"its id at the same position of the events topic", []schema.Claim{claim("acme", "e5", 0, 10)}, []bool{false}},
	}
	for _, st := range steps {
		got, err := db.ClaimEvents(ctx, st.claims)
		if err != nil {
			t.Fatalf("%s: ClaimEvents: %v", st.name, err)
		}
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: ClaimEvents = %v, want %v", st.name, got, st.want)
		}
	}
	if n := db.count(t, `SELECT count(*) FROM events`); n != 6 {
		t.Errorf("events rows = %d, want 6 (acme e1-e5, other e1)", n)
	}
	var data string
	var part int32
	var off int64
	err := db.raw.QueryRow(ctx, `SELECT data::text, src_partition, src_offset FROM events WHERE tenant = 'acme' AND id = 'e1'`).
		Scan(&data, &part, &off)
	if err != nil {
		t.Fatal(err)
	}
	if data != `{"n": 1}` || part != 0 || off != 10 {
		t.Errorf("stored acme/e1 = %s at %d/%d, want the first record's data at 0/10", data, part, off)
	}
}
