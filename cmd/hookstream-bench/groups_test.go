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
// for the first (a dispatch group stable with one of its sessions
// rebalances again when the others join, during the measurement), and for
// every partition to be assigned to them.
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
	if !waitGroups(ctx, brokers, map[string]groupWant{"g": {1, 4}}, 30*time.Second) {
		t.Fatal("the group of one member was not found stable")
	}
	if waitGroups(ctx, brokers, map[string]groupWant{"g": {2, 4}}, time.Second) {
		t.Fatal("waitGroups was content with one member of two")
	}
	if waitGroups(ctx, brokers, map[string]groupWant{"g": {1, 5}}, time.Second) {
		t.Fatal("waitGroups was content with 4 partitions assigned of 5")
	}
	member()
	if !waitGroups(ctx, brokers, map[string]groupWant{"g": {2, 4}}, 30*time.Second) {
		t.Fatal("the group was not found stable with its two members and its partitions assigned")
	}
}
