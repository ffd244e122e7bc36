using System.Diagnostics;

namespace Airlock.Guest.Tests;

/// <summary>
/// How to start the guest: `dotnet airlock-guest.dll` (copied next to the tests by the project reference), or the
/// NativeAOT binary named by AIRLOCK_GUEST_BIN, e.g. artifacts/guest/airlock-guest, to test what ships.
/// </summary>
internal static class GuestCommand
{
    public static ProcessStartInfo Create(params string[] args)
    {
        var native = Environment.GetEnvironmentVariable("AIRLOCK_GUEST_BIN");
        var psi = new ProcessStartInfo(string.IsNullOrEmpty(native) ? "dotnet" : Path.GetFullPath(native));
        if (string.IsNullOrEmpty(native))
        {
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "airlock-guest.dll"));
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        return psi;
    }
}
