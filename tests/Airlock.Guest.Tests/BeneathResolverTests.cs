using Airlock.Guest.Files;
using Airlock.Guest.Native;
using Microsoft.Win32.SafeHandles;

namespace Airlock.Guest.Tests;

/// <summary>
/// The resolver in both modes against the same tree: the userspace walk (what gVisor gets) must refuse and
/// allow exactly what openat2(RESOLVE_BENEATH) does.
/// </summary>
public sealed class BeneathResolverTests : IDisposable
{
    private readonly string _outer;
    private readonly string _root;

    public BeneathResolverTests()
    {
        _outer = Directory.CreateTempSubdirectory("airlock-resolver-").FullName;
        _root = Path.Combine(_outer, "root");
        Directory.CreateDirectory(Path.Combine(_root, "dir/sub"));
        File.WriteAllText(Path.Combine(_root, "dir/sub/file.txt"), "inside");
        File.WriteAllText(Path.Combine(_outer, "secret.txt"), "outside");
        Link("abs", "/etc");
        Link("up", "../..");
        Link("up-one", "..");
        Link("secret", "../secret.txt");
        Link("alias", "dir/sub");
        Link("dir/sub/back", "../../dir/sub/file.txt");
        Link("dir/sub/to-root", "../..");
        Link("loop1", "loop2");
        Link("loop2", "loop1");
        Link("dangling", "dir/new.txt");
        File.WriteAllText(Path.Combine(_root, "plain"), "x");
    }

    private void Link(string at, string target) => File.CreateSymbolicLink(Path.Combine(_root, at), target);

    public static TheoryData<bool> Modes => new() { false, true };

    private string ReadVia(bool walk, string path)
    {
        using var resolver = new BeneathResolver(_root, walk);
        var fd = resolver.Open(Split(path), Libc.O_RDONLY);
        using var stream = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read);
        return new StreamReader(stream).ReadToEnd();
    }

    private static string[] Split(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);

    [Theory]
    [MemberData(nameof(Modes))]
    public void Opens_plain_paths_and_inside_symlinks(bool walk)
    {
        Assert.Equal("inside", ReadVia(walk, "dir/sub/file.txt"));
        Assert.Equal("inside", ReadVia(walk, "alias/file.txt"));
        Assert.Equal("inside", ReadVia(walk, "dir/sub/back"));
        Assert.Equal("inside", ReadVia(walk, "dir/sub/to-root/dir/sub/file.txt"));
    }

    [Theory]
    [InlineData(false, "abs/passwd")]
    [InlineData(true, "abs/passwd")]
    [InlineData(false, "up/etc/passwd")]
    [InlineData(true, "up/etc/passwd")]
    [InlineData(false, "up-one/secret.txt")]
    [InlineData(true, "up-one/secret.txt")]
    [InlineData(false, "secret")]
    [InlineData(true, "secret")]
    [InlineData(false, "loop1")]
    [InlineData(true, "loop1")]
    [InlineData(false, "dir/sub/to-root/up-one/secret.txt")]
    [InlineData(true, "dir/sub/to-root/up-one/secret.txt")]
    public void Refuses_escapes(bool walk, string path)
    {
        Assert.Throws<PathEscapeException>(() => ReadVia(walk, path));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void Reports_errno_for_ordinary_failures(bool walk)
    {
        Assert.Equal(Libc.ENOENT, Assert.Throws<ErrnoException>(() => ReadVia(walk, "dir/missing")).Errno);
        Assert.Equal(Libc.ENOTDIR, Assert.Throws<ErrnoException>(() => ReadVia(walk, "plain/x")).Errno);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void Creates_through_a_dangling_inside_symlink(bool walk)
    {
        using var resolver = new BeneathResolver(_root, walk);
        Libc.close(resolver.Open(["dangling"], Libc.O_WRONLY | Libc.O_CREAT, 0x1A4));
        Assert.True(File.Exists(Path.Combine(_root, "dir/new.txt")));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void O_NOFOLLOW_with_O_PATH_opens_the_link_itself(bool walk)
    {
        using var resolver = new BeneathResolver(_root, walk);
        // The link points outside, but describing the link itself is harmless and must work.
        var fd = resolver.Open(["abs"], Libc.O_PATH | Libc.O_NOFOLLOW);
        try
        {
            Assert.Equal(Libc.S_IFLNK, Directories.Stat(fd, "").Mode & Libc.S_IFMT);
        }
        finally
        {
            Libc.close(fd);
        }
    }

    [Fact]
    public void Walk_follows_at_most_40_links()
    {
        // chain0 -> chain1 -> ... -> chain40 -> plain: 41 links is one too many, 40 is fine.
        for (var i = 0; i <= 40; i++)
        {
            Link($"chain{i}", i == 40 ? "plain" : $"chain{i + 1}");
        }
        Assert.Equal("x", ReadVia(walk: true, "chain1"));
        var e = Assert.Throws<PathEscapeException>(() => ReadVia(walk: true, "chain0"));
        Assert.Contains("too many levels", e.Message);
    }

    [Fact]
    public void Root_itself_opens_with_no_components()
    {
        using var resolver = new BeneathResolver(_root, forceFallback: true);
        var fd = resolver.Open([], Libc.O_RDONLY | Libc.O_DIRECTORY);
        try
        {
            Assert.Contains("plain", Directories.ReadNames(fd));
        }
        finally
        {
            Libc.close(fd);
        }
    }

    [Theory]
    [InlineData("../x", "path-escape")]
    [InlineData("a/../../x", "path-escape")]
    [InlineData("/etc/passwd", "path-escape")]
    [InlineData("/work", "path-escape")]
    [InlineData("/wsx/a", "path-escape")]
    [InlineData("", "invalid-path")]
    [InlineData("a\0b", "invalid-path")]
    public void WorkspacePath_refuses(string path, string code)
    {
        Assert.Equal(code, Assert.Throws<FsException>(() => WorkspacePath.Parse("/ws", path)).Code);
    }

    [Theory]
    [InlineData("a/b", "a,b")]
    [InlineData("./a//b/.", "a,b")]
    [InlineData("/ws/a/b", "a,b")]
    [InlineData("/ws", "")]
    [InlineData("/ws/", "")]
    [InlineData(".", "")]
    public void WorkspacePath_normalizes(string path, string expected)
    {
        Assert.Equal(expected, string.Join(',', WorkspacePath.Parse("/ws", path)));
    }

    public void Dispose() => Directory.Delete(_outer, recursive: true);
}
