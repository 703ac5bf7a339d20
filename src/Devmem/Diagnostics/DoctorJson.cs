using System.Text;
using System.Text.Json;
using Devmem.Netlink;
using Devmem.Netlink.Ethtool;

namespace Devmem.Diagnostics;

/// <summary>
/// Writes a <see cref="DoctorReport"/> in the stable schema of docs/doctor.md with
/// <see cref="Utf8JsonWriter"/> (no reflection: trimming and NativeAOT keep it intact). Keys are
/// snake_case; a fact the kernel did not report is null, never left out.
/// </summary>
internal static class DoctorJson
{
    public static string Write(DoctorReport report)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("schema", DoctorReport.SchemaVersion);
            w.WriteString("kernel", report.Host.KernelRelease);
            w.WriteString("ifname", report.Ifname);
            w.WriteBoolean("devmem_rx_possible", report.DevmemRxPossible);
            w.WriteBoolean("zcrx_rx_possible", report.ZcrxRxPossible);
            WriteHost(w, report.Host);
            WriteZcrx(w, report.Zcrx);
            w.WriteStartArray("interfaces");
            foreach (DoctorInterfaceReport d in report.Interfaces)
            {
                WriteDevice(w, d, report.IsPossibleOn(d), report.IsZcrxPossibleOn(d));
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteHost(Utf8JsonWriter w, DoctorHostReport h)
    {
        w.WriteStartObject("host");
        w.WriteBoolean("devmem_rx_possible", h.DevmemRxPossible);
        w.WriteBoolean("netdev_family", h.NetdevFamily);
        w.WriteStartObject("netdev_ops");
        foreach ((string op, bool has) in h.NetdevOperations)
        {
            w.WriteBoolean(op, has);
        }

        w.WriteEndObject();
        Bool(w, "rx_page_size", h.RxPageSize);
        w.WriteStartObject("udmabuf");
        w.WriteBoolean("present", h.Udmabuf);
        Number(w, "size_limit_bytes", h.UdmabufSizeLimitBytes);
        w.WriteEndObject();
        w.WriteStartArray("dma_heaps");
        foreach (string heap in h.DmaHeaps)
        {
            w.WriteStringValue(heap);
        }

        w.WriteEndArray();
        w.WriteStartObject("cuda");
        w.WriteStartArray("dmabuf_devices");
        foreach (int d in h.CudaDmabufDevices)
        {
            w.WriteNumberValue(d);
        }

        w.WriteEndArray();
        w.WriteString("reason", h.CudaReason);
        w.WriteEndObject();
        w.WriteBoolean("cap_net_admin", h.CapNetAdmin);
        WriteChecks(w, h.Checks);
        w.WriteEndObject();
    }

    private static void WriteZcrx(Utf8JsonWriter w, DoctorZcrxReport z)
    {
        w.WriteStartObject("zcrx");
        w.WriteBoolean("zcrx_rx_possible", z.ZcrxRxPossible);
        w.WriteString("io_uring_disabled", z.IoUringDisabled);
        w.WriteString("io_uring_group", z.IoUringGroup);
        w.WriteBoolean("io_uring", z.IoUring);
        Bool(w, "recv_zc", z.RecvZc);
        Bool(w, "dmabuf_areas", z.DmabufAreas);
        Bool(w, "no_device", z.NoDevice);
        WriteChecks(w, z.Checks);
        w.WriteEndObject();
    }

    private static void WriteDevice(Utf8JsonWriter w, DoctorInterfaceReport d, bool possible, bool zcrxPossible)
    {
        w.WriteStartObject();
        w.WriteString("name", d.Name);
        w.WriteNumber("ifindex", d.Ifindex);
        w.WriteBoolean("devmem_rx_possible", possible);
        w.WriteBoolean("zcrx_rx_possible", zcrxPossible);
        w.WriteString("driver", d.Driver);
        w.WriteString("driver_source", d.DriverSource);
        Bool(w, "parent_device", d.ParentDevice);
        w.WriteNumber("rx_queues", d.RxQueues);
        w.WriteNumber("tx_queues", d.TxQueues);
        if (d.Channels is EthtoolChannels c)
        {
            w.WriteStartObject("channels");
            Number(w, "rx", c.RxCount);
            Number(w, "tx", c.TxCount);
            Number(w, "other", c.OtherCount);
            Number(w, "combined", c.CombinedCount);
            Number(w, "rx_max", c.RxMax);
            Number(w, "tx_max", c.TxMax);
            Number(w, "combined_max", c.CombinedMax);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("channels");
        }

        w.WriteString("queue_api", d.QueueApi switch { QueueApiSupport.Yes => "yes", QueueApiSupport.No => "no", _ => "unknown" });
        w.WriteString("queue_api_source", d.QueueApiSource);
        w.WriteString("tcp_data_split", d.TcpDataSplit switch
        {
            EthtoolTcpDataSplit.Enabled => "enabled",
            EthtoolTcpDataSplit.Disabled => "disabled",
            EthtoolTcpDataSplit.Unknown => "unknown",
            _ => null,
        });
        Number(w, "hds_thresh", d.HdsThreshold);
        if (d.NtupleSupported is bool ns)
        {
            w.WriteStartObject("ntuple");
            w.WriteBoolean("supported", ns);
            Bool(w, "enabled", d.NtupleEnabled);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("ntuple");
        }

        Number(w, "rss_table_size", d.RssTableSize);
        w.WriteString("xdp", Xdp(d.Xdp));
        w.WriteStartArray("bound_rx_queues");
        foreach (DoctorRxQueueInUse b in d.BoundQueues)
        {
            w.WriteStartObject();
            w.WriteNumber("id", b.Id);
            Number(w, "dmabuf", b.DmabufBindingId);
            w.WriteBoolean("io_uring", b.IoUring);
            w.WriteBoolean("xsk", b.Xsk);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        WriteChecks(w, d.Checks);
        WriteChecks(w, d.ZcrxCheck is { } z ? [z] : [], "zcrx_checks");
        w.WriteEndObject();
    }

    private static void WriteChecks(Utf8JsonWriter w, IReadOnlyList<DoctorCheck> checks, string name = "checks")
    {
        w.WriteStartArray(name);
        foreach (DoctorCheck c in checks)
        {
            w.WriteStartObject();
            w.WriteString("id", c.Id);
            w.WriteString("title", c.Title);
            w.WriteString("status", Status(c.Status));
            w.WriteString("detail", c.Detail);
            w.WriteString("fix", c.Fix);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    public static string Xdp(XdpAttachMode mode) => mode switch
    {
        XdpAttachMode.None => "none",
        XdpAttachMode.Driver => "driver",
        XdpAttachMode.Generic => "generic",
        XdpAttachMode.Offload => "offload",
        _ => "multiple",
    };

    public static string Status(DoctorStatus s) => s switch
    {
        DoctorStatus.Pass => "pass",
        DoctorStatus.Fail => "fail",
        DoctorStatus.Warn => "warn",
        _ => "n/a",
    };

    private static void Bool(Utf8JsonWriter w, string name, bool? v)
    {
        if (v is bool b)
        {
            w.WriteBoolean(name, b);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void Number(Utf8JsonWriter w, string name, long? v)
    {
        if (v is long n)
        {
            w.WriteNumber(name, n);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
