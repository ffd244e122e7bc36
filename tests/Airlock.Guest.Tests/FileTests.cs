using System.Text;
using Airlock.Guest.Protocol;

namespace Airlock.Guest.Tests;

/// <summary>File operations with the kernel's openat2 confinement.</summary>
public sealed class FileTests(GuestFixture guest) : FileTestsBase(guest), IClassFixture<GuestFixture>;

/// <summary>The same file operations through the userspace resolver used where openat2 is missing (gVisor).</summary>
public sealed class WalkingFileTests(WalkingGuestFixture guest) : FileTestsBase(guest), IClassFixture<WalkingGuestFixture>;

public abstract class FileTestsBase(GuestFixture guest)
{
    private Task<FileResult> WriteAsync(string path, string content, int mode = 0x1A4) =>
        guest.WithConnectionAsync(s => GuestClient.WriteFileAsync(s, s, path, new MemoryStream(Encoding.UTF8.GetBytes(content)), mode, CancellationToken.None));

    private async Task<(FileResult Result, string Content)> ReadAsync(string path)
    {
        var dest = new MemoryStream();
        var result = await guest.WithConnectionAsync(s => GuestClient.ReadFileAsync(s, s, path, dest, CancellationToken.None));
        return (result, Encoding.UTF8.GetString(dest.ToArray()));
    }

    private Task<FileResult> OpAsync(FileOp op, string path, bool recursive = false) =>
        guest.WithConnectionAsync(s => GuestClient.FileOpAsync(s, s, new FileRequest(op, path, recursive), CancellationToken.None));

    private static void AssertError(FileResult result, string code, string pathInMessage)
    {
        Assert.False(result.Ok);
        Assert.NotNull(result.Error);
        Assert.Equal(code, result.Error!.Code);
        Assert.Contains(pathInMessage, result.Error.Message);
    }

    [Fact]
    public async Task Write_then_read_roundtrips()
    {
        var big = new string('x', 300_000) + "end";
        var w = await WriteAsync("round.txt", big, mode: 0x180 /* 0600 */);
        Assert.True(w.Ok, w.Error?.Message);
        Assert.Equal(big.Length, w.Bytes);
        Assert.Equal(big, File.ReadAllText(Path.Combine(guest.Workspace, "round.txt")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(guest.Workspace, "round.txt")));

        var (r, content) = await ReadAsync("round.txt");
        Assert.True(r.Ok);
        Assert.Equal(big.Length, r.Bytes);
        Assert.Equal(big, content);

        // Absolute paths under the workspace are accepted.
        var (abs, absContent) = await ReadAsync(Path.Combine(guest.Workspace, "round.txt"));
        Assert.True(abs.Ok);
        Assert.Equal(big, absContent);
    }

    [Fact]
    public async Task Overwrite_truncates()
    {
        await WriteAsync("trunc.txt", "a long first version");
        await WriteAsync("trunc.txt", "short");
        Assert.Equal("short", (await ReadAsync("trunc.txt")).Content);
    }

    [Fact]
    public async Task Read_errors_name_the_path()
    {
        AssertError((await ReadAsync("missing.txt")).Result, ErrorCodes.NotFound, "\"missing.txt\"");
        Directory.CreateDirectory(Path.Combine(guest.Workspace, "adir"));
        AssertError((await ReadAsync("adir")).Result, ErrorCodes.IsADirectory, "\"adir\"");
        AssertError(await WriteAsync("nodir/x.txt", "x"), ErrorCodes.NotFound, "nodir/x.txt");
    }

    [Fact]
    public async Task List_and_stat_describe_entries()
    {
        var dir = Path.Combine(guest.Workspace, "listme");
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        File.WriteAllText(Path.Combine(dir, "b.txt"), "12345");
        File.SetUnixFileMode(Path.Combine(dir, "b.txt"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        File.CreateSymbolicLink(Path.Combine(dir, "link"), "b.txt");

        var list = await OpAsync(FileOp.List, "listme");
        Assert.True(list.Ok, list.Error?.Message);
        Assert.Equal(["b.txt", "link", "sub"], list.Entries!.Select(e => e.Name));
        var file = list.Entries!.Single(e => e.Name == "b.txt");
        Assert.Equal("file", file.Type);
        Assert.Equal(5, file.Size);
        Assert.Equal(0x1A0 /* 0640 */, file.Mode);
        Assert.True(Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - file.ModifiedUnixMs) < 60_000);
        Assert.Equal("symlink", list.Entries!.Single(e => e.Name == "link").Type);
        Assert.Equal("dir", list.Entries!.Single(e => e.Name == "sub").Type);

        var stat = await OpAsync(FileOp.Stat, "listme/link");
        Assert.True(stat.Ok);
        Assert.Equal("link", Assert.Single(stat.Entries!).Name);
        Assert.Equal("symlink", stat.Entries![0].Type);

        var root = await OpAsync(FileOp.List, ".");
        Assert.Contains(root.Entries!, e => e.Name == "listme" && e.Type == "dir");

        AssertError(await OpAsync(FileOp.List, "listme/b.txt"), ErrorCodes.NotADirectory, "listme/b.txt");
        AssertError(await OpAsync(FileOp.Stat, "nope"), ErrorCodes.NotFound, "nope");
    }

    [Fact]
    public async Task Mkdir_and_delete()
    {
        var r = await OpAsync(FileOp.Mkdir, "m/a/b/c", recursive: true);
        Assert.True(r.Ok, r.Error?.Message);
        Assert.True(Directory.Exists(Path.Combine(guest.Workspace, "m/a/b/c")));
        Assert.True((await OpAsync(FileOp.Mkdir, "m/a/b/c", recursive: true)).Ok); // -p is idempotent
        AssertError(await OpAsync(FileOp.Mkdir, "m/a"), ErrorCodes.Exists, "m/a");
        AssertError(await OpAsync(FileOp.Mkdir, "q/r"), ErrorCodes.NotFound, "q/r");
        Assert.True((await OpAsync(FileOp.Mkdir, "m/single")).Ok);

        await WriteAsync("m/a/b/c/file.txt", "data");
        File.CreateSymbolicLink(Path.Combine(guest.Workspace, "m/a/outside"), "/etc");
        AssertError(await OpAsync(FileOp.Delete, "m"), ErrorCodes.NotEmpty, "\"m\"");

        var del = await OpAsync(FileOp.Delete, "m", recursive: true);
        Assert.True(del.Ok, del.Error?.Message);
        Assert.False(Directory.Exists(Path.Combine(guest.Workspace, "m")));
        Assert.True(File.Exists("/etc/passwd")); // the symlink was unlinked, not followed

        await WriteAsync("gone.txt", "x");
        Assert.True((await OpAsync(FileOp.Delete, "gone.txt")).Ok);
        Assert.False(File.Exists(Path.Combine(guest.Workspace, "gone.txt")));
        AssertError(await OpAsync(FileOp.Delete, "gone.txt"), ErrorCodes.NotFound, "gone.txt");
        AssertError(await OpAsync(FileOp.Delete, "."), ErrorCodes.InvalidPath, "workspace root");
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("/etc/passwd")]
    [InlineData("a/../../x")]
    [InlineData("a/..")]
    public async Task Escaping_paths_are_refused(string path)
    {
        AssertError((await ReadAsync(path)).Result, ErrorCodes.PathEscape, path);
        AssertError(await WriteAsync(path, "pwned"), ErrorCodes.PathEscape, path);
        AssertError(await OpAsync(FileOp.Mkdir, path, recursive: true), ErrorCodes.PathEscape, path);
        AssertError(await OpAsync(FileOp.Delete, path, recursive: true), ErrorCodes.PathEscape, path);
    }

    [Fact]
    public async Task Invalid_paths_are_refused()
    {
        Assert.Equal(ErrorCodes.InvalidPath, (await ReadAsync("")).Result.Error!.Code);
        Assert.Equal(ErrorCodes.InvalidPath, (await ReadAsync("a\0b")).Result.Error!.Code);
    }

    [Fact]
    public async Task Symlinks_leaving_the_workspace_are_refused()
    {
        File.CreateSymbolicLink(Path.Combine(guest.Workspace, "etc-link"), "/etc");
        File.CreateSymbolicLink(Path.Combine(guest.Workspace, "up-link"), "../..");
        File.WriteAllText(Path.Combine(guest.Root, "outside.txt"), "secret");
        File.CreateSymbolicLink(Path.Combine(guest.Workspace, "file-link"), "../outside.txt");

        AssertError((await ReadAsync("etc-link/passwd")).Result, ErrorCodes.PathEscape, "etc-link/passwd");
        AssertError(await WriteAsync("etc-link/airlock-test", "x"), ErrorCodes.PathEscape, "etc-link/airlock-test");
        AssertError((await ReadAsync("up-link/etc/passwd")).Result, ErrorCodes.PathEscape, "up-link/etc/passwd");
        AssertError(await WriteAsync("up-link/pwned.txt", "x"), ErrorCodes.PathEscape, "up-link/pwned.txt");
        AssertError((await ReadAsync("file-link")).Result, ErrorCodes.PathEscape, "file-link");
        AssertError(await WriteAsync("file-link", "overwritten"), ErrorCodes.PathEscape, "file-link");
        AssertError(await OpAsync(FileOp.List, "etc-link"), ErrorCodes.PathEscape, "etc-link");

        Assert.False(File.Exists("/etc/airlock-test"));
        Assert.Equal("secret", File.ReadAllText(Path.Combine(guest.Root, "outside.txt")));
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(guest.Root)!, "pwned.txt")));
    }

    [Fact]
    public async Task Symlinks_inside_the_workspace_work()
    {
        Directory.CreateDirectory(Path.Combine(guest.Workspace, "real/deep"));
        File.CreateSymbolicLink(Path.Combine(guest.Workspace, "alias"), "real");
        File.CreateSymbolicLink(Path.Combine(guest.Workspace, "real/deep/back"), "../../real");

        Assert.True((await WriteAsync("alias/via-link.txt", "hi")).Ok);
        Assert.Equal("hi", File.ReadAllText(Path.Combine(guest.Workspace, "real/via-link.txt")));
        var (r, content) = await ReadAsync("real/deep/back/via-link.txt");
        Assert.True(r.Ok, r.Error?.Message);
        Assert.Equal("hi", content);
    }
}
