package main

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
)

// waitGroups waits for every member a stage's group is meant to have, not
// for the first: a dispatch group stable with one of its sessions
// rebalances again when the others join, during the measurement.
func TestWaitGroupsWaitsForEveryMember(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "t"))
	testenv.Must(t, err, "kfake")
	defer c.Close()
	brokers := c.ListenAddrs()
	ctx := context.Background()
	member := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"))
		testenv.Must(t, err, "member")
		t.Cleanup(cl.Close)
		go cl.PollFetches(ctx) // joins the group
		return cl
	}
	member()
	if !waitGroups(ctx, brokers, map[string]int{"g": 1}, 30*time.Second) {
		t.Fatal("the group of one member was not found stable")
	}
	if waitGroups(ctx, brokers, map[string]int{"g": 2}, time.Second) {
		t.Fatal("waitGroups was content with one member of two")
	}
	member()
	if !waitGroups(ctx, brokers, map[string]int{"g": 2}, 30*time.Second) {
		t.Fatal("the group was not found stable with its two members")
	}
}
