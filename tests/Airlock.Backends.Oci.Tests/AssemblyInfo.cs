// Sandboxes compete for 2 cores and the limits tests measure time: run test classes one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
