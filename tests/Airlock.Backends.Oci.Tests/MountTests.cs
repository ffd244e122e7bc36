using Airlock.Core;
using Airlock.Core.Model;

namespace Airlock.Backends.Oci.Tests;

/// <summary>Template mounts: exactly the host directory given, read-only unless said otherwise, and never a
/// protected directory reached through a symlink. Writes are attempted only inside fresh temp directories.</summary>
public sealed class MountTests(OciFixture f) : IClassFixture<OciFixture>
{
    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task AReadOnlyMountIsReadableAndNotWritable(string runtime)
    {
        var dir = Directory.CreateTempSubdirectory("airlock-mount-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        await File.WriteAllTextAsync(Path.Combine(dir, "given.txt"), "given\n");
        File.SetUnixFileMode(Path.Combine(dir, "given.txt"), (UnixFileMode)0b110_100_100);
        try
        {
            var t = OciFixture.Shell(runtime) with { Mounts = [new MountSpec { Host = dir, Path = "/data" }] };
            var o = await f.RunAsync(t, "sh", "-c", "cat /data/given.txt; (echo x > /data/new.txt) 2>/dev/null && echo WROTE; echo /data/*");
            Assert.True(o.Result.ExitCode == 0, o.ToString());
            Assert.Equal("given\n/data/given.txt\n", o.Stdout); // (echo: gVisor 2022 answers ls's statx with EINVAL)
            Assert.False(File.Exists(Path.Combine(dir, "new.txt")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task ASymlinkIntoAProtectedDirectoryIsRefusedBeforeAnythingStarts()
    {
        var dir = Directory.CreateTempSubdirectory("airlock-mount-link-").FullName;
        var link = Path.Combine(dir, "innocent");
        File.CreateSymbolicLink(link, "/etc");
        try
        {
            var t = OciFixture.Shell("crun") with { Mounts = [new MountSpec { Host = link, Path = "/data" }] };
            var e = await Assert.ThrowsAsync<AirlockException>(() => f.RunAsync(t, "cat", "/data/shadow"));
            Assert.Contains("mounts[0].host", e.Message);
            Assert.Contains("/etc", e.Message);
            Assert.Empty(Directory.Exists(Path.Combine(f.Home, "sandboxes")) ? Directory.GetDirectories(Path.Combine(f.Home, "sandboxes")) : []);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
