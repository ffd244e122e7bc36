// Limit tests measure time on 2 shared cores: run test classes one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
