package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hookstream/hookstream/schema"
)

func TestSources(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	a := schema.Source{ID: "a", Topic: "orders", Start: schema.StartLatest,
		Tenant: &schema.SourceRule{From: schema.FromHeader, Header: "x-tenant"}, Data: &schema.SourceRule{From: schema.FromPointer, Pointer: "/p"}}
	b := schema.Source{ID: "b", TopicPattern: "audit-.*", Start: schema.StartEarliest}
	got, err := db.CreateSource(ctx, a, 2)
	if err != nil || got.CreatedAt.IsZero() {
		t.Fatalf("CreateSource: %v %+v", err, got)
	}
	if _, err := db.CreateSource(ctx, a, 2); !errors.Is(err, schema.ErrConflict) {
		t.Errorf("the same id again: %v, want ErrConflict", err)
	}
	if _, err := db.CreateSource(ctx, b, 2); err != nil {
		t.Fatalf("CreateSource b: %v", err)
	}
	c := b
	c.ID = "c"
	if _, err := db.CreateSource(ctx, c, 2); !errors.Is(err, schema.ErrLimitReached) {
		t.Errorf("a third source past a limit of 2: %v, want ErrLimitReached", err)
	}
	one, err := db.Source(ctx, "a")
	if err != nil || one.Topic != "orders" || one.Start != schema.StartLatest || one.Tenant == nil || one.Tenant.Header != "x-tenant" ||
		one.Data.Pointer != "/p" || one.Type != nil || !one.CreatedAt.Equal(got.CreatedAt) {
		t.Errorf("Source(a) = %+v, %v", one, err)
	}
	all, err := db.Sources(ctx)
	if err != nil || len(all) != 2 || all[0].ID != "a" || all[1].TopicPattern != "audit-.*" {
		t.Errorf("Sources = %+v, %v", all, err)
	}
	if err := db.DeleteSource(ctx, "a"); err != nil {
		t.Errorf("DeleteSource: %v", err)
	}
	if err := db.DeleteSource(ctx, "a"); !errors.Is(err, schema.ErrNotFound) {
		t.Errorf("DeleteSource again: %v, want ErrNotFound", err)
	}
	if _, err := db.Source(ctx, "a"); !errors.Is(err, schema.ErrNotFound) {
		t.Errorf("Source after delete: %v, want ErrNotFound", err)
	}
}
