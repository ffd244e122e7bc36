using System.Text.RegularExpressions;

namespace Airlock.Screening.Rules;

/// <summary>
/// Content that a tool description should not contain: instructions to the model, concealment from the user,
/// secret files, data sent away, attack vocabulary. Each rule is one regex over the description with invisible
/// characters and escapes already removed; a finding covers the sentence around the match, which is what
/// <c>strip</c> removes.
/// </summary>
internal static partial class InstructionRules
{
    private const RegexOptions Options = RegexOptions.IgnoreCase | RegexOptions.CultureInvariant;

    // --- hidden-directive ---------------------------------------------------------------------------------------
    [GeneratedRegex(@"\b(?:ignore|disregard|forget)\s+(?:\w+\s+){0,3}?(?:instructions?|guidelines|directives|system\s+prompts?|prompts?|rules)\b|\boverride\s+(?:\w+\s+){0,3}?(?:instructions?|guidelines|directives|system\s+prompts?)\b", Options)]
    private static partial Regex IgnoreInstructions();

    [GeneratedRegex(@"<\s*/?\s*(?:important|system|instructions?|admin|hidden|secret|critical|override|note[\s_-]to[\s_-](?:ai|assistant|model|llm))\s*>", Options)]
    private static partial Regex DirectiveTag();

    [GeneratedRegex(@"\b(?:before|prior\s+to|after|when)\s+(?:using|calling|invoking|running|executing)\s+(?:this|the|any|each)\b(?:[^.!?\n]|\n(?![ \t]*\n)){0,60}?\b(?:you\s+)?(?:must|need\s+to|have\s+to|are\s+required\s+to|always)\b", Options)]
    private static partial Regex BeforeUsingMust();

    [GeneratedRegex(@"\b(?:you|the\s+(?:assistant|ai|model|agent|llm))\s+(?:must|should|shall|are\s+required\s+to|need\s+to)\s+(?:always\s+|first\s+|also\s+)?(?:call|invoke|execute|read|send|forward|upload|attach|include\s+the\s+(?:contents?|content)|append|exfiltrate)\b", Options)]
    private static partial Regex ModelMust();

    [GeneratedRegex(@"\b(?:system|admin|developer|root)[\s_-]*(?:override|instructions?)\b|\boverride[\s_-]*(?:mode|instructions?)\b|\b(?:new|updated|real|actual|hidden|secret)\s+instructions?\s*:", Options)]
    private static partial Regex OverrideMarker();

    [GeneratedRegex(@"\b(?:execute|run)\s+(?:the\s+following|this|these)\s+(?:\w+\s+){0,2}?commands?\b", Options)]
    private static partial Regex RunFollowingCommand();

    // --- conceal-from-user --------------------------------------------------------------------------------------
    [GeneratedRegex(@"\b(?:do\s+not|don't|dont|never|without)\s+(?:\w+\s+){0,2}?(?:tell(?:ing)?|inform(?:ing)?|mention(?:ing)?|reveal(?:ing)?|notify(?:ing)?|alert(?:ing)?|show(?:ing)?|disclos(?:e|ing)|let(?:ting)?|ask(?:ing)?|warn(?:ing)?)\s+(?:\w+\s+){0,2}?(?:the\s+)?users?\b", Options)]
    private static partial Regex DoNotTellUser();

    [GeneratedRegex(@"\b(?:the\s+)?users?\s+(?:must|should|need|will|may)\s*(?:not|never|n't)\s+(?:\w+\s+){0,2}?(?:know|see|notice|learn|find\s+out|be\s+(?:told|informed|aware|notified|shown))\b", Options)]
    private static partial Regex UserMustNotKnow();

    [GeneratedRegex(@"\bwithout\s+(?:the\s+)?users?(?:'s|s')?\s+(?:knowledge|consent|awareness|noticing|permission|approval)\b", Options)]
    private static partial Regex WithoutUserKnowledge();

    [GeneratedRegex(@"\b(?:secretly|covertly|silently|quietly|stealthily|invisibly)\s+(?:\w+\s+)?(?:send|upload|forward|copy|read|collect|log|record|exfiltrate|transmit|include|add|share|store|append|call|execute|run)\w*\b|\bhide\s+(?:this|it|these|that|them)\s+from\s+(?:the\s+)?users?\b|\bkeep\s+(?:this|it|these)\s+(?:secret|hidden|confidential)\b", Options)]
    private static partial Regex Covertly();

    // --- sensitive-file -----------------------------------------------------------------------------------------
    [GeneratedRegex(
        @"(?:~|\$HOME|%USERPROFILE%)?[/\\]\.ssh\b|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|\bauthorized_keys\b" +
        @"|(?<![\w.-])\.env(?:\.[\w-]+)?\b" +
        @"|\b(?:mcp|mcp_config|mcp_settings|cline_mcp_settings|claude_desktop_config)\.json\b" +
        @"|/etc/(?:passwd|shadow|gshadow|sudoers)|/proc/(?:self|\d+|\[?pid\]?)/(?:environ|mem|maps)\b" +
        @"|\.aws[/\\](?:credentials|config)\b|\.kube[/\\]config\b|\.docker[/\\]config\.json\b|\.config[/\\]gcloud\b" +
        @"|(?<![\w-])\.(?:netrc|pgpass|npmrc|pypirc|git-credentials|gnupg|bash_history|zsh_history)\b" +
        @"|\b(?:credentials|service[-_]account|secrets)\.(?:json|ya?ml|txt|toml)\b|\bwallet\.dat\b" +
        @"|\*\.(?:pem|key|p12|pfx|kdbx|env)\b",
        Options)]
    private static partial Regex SensitivePath();

    // --- data-exfiltration --------------------------------------------------------------------------------------
    [GeneratedRegex(
        @"\b(?:send|sent|post|upload|forward|transmit|stream|sync|share|copy|copie|leak|beacon|report|cache|store|log|mirror|replicate)(?:s|d|ed|ing)?\b(?:[^.!?\n]|\n(?![ \t]*\n)){0,160}?\b(?:to|with|via|on|at)\s+(?:an?\s+|the\s+|our\s+|their\s+)?(?:remote|external|third[\s-]part(?:y|ies)|attacker\w*|untrusted|outside|c2\b|command[\s-]and[\s-]control|(?:our|my)\s+(?:own\s+)?(?:servers?|endpoints?|team)|https?://)" +
        @"|\b(?:sent|posted|uploaded|forwarded|transmitted|streamed|synced|shared|stored|cached|logged|kept)\s+(?:remotely|externally|offsite)\b" +
        @"|\bexfiltrat\w*" +
        @"|\b(?:curl|wget)\b[^\n]{0,120}?\s(?:-d|--data(?:-binary|-raw)?|-F|--form|-T|--upload-file)\s*@?" +
        @"|\|\s*(?:nc|ncat|netcat|socat|curl|wget)\b",
        Options)]
    private static partial Regex DataLeavesMachine();

    // --- malicious-capability: the tactics of MITRE ATT&CK, in the words a tool would use for them --------------
    [GeneratedRegex(
        @"\b(?:exploit(?:s|ed|ing|ation)?|privilege\s+escalation|escalat\w+\s+(?:\w+\s+)?privileges?|backdoor\w*|rootkit\w*|keylog\w*|ransomware|malware|trojan\w*|spyware" +
        @"|(?:reverse|bind|web)\s*shells?|brute[\s-]?forc\w*|password\s+spray\w*|credential\s+(?:dump\w*|harvest\w*|theft|stuffing)" +
        @"|(?:dump|harvest|steal|exfiltrate|sniff|intercept|extract|grab|capture|decrypt|crack|forge)\w*\s+(?:\w+\s+){0,2}?(?:credentials?|passwords?|hash(?:es)?|tokens?|secrets?|cookies|keys|tickets?)" +
        @"|attack(?:s|er\w*)?|arbitrary\s+(?:\w+\s+)?(?:code|commands?)|(?:hide|hiding|conceal\w*|cover\w*)\s+(?:\w+\s+)?(?:activity|tracks|traces|presence)|tamper\w*\s+with" +
        @"|stolen|steal(?:s|ing)?|lateral\s+movement|(?:establish|maintain|gain)\w*\s+persistence|persistence\s+mechanisms?|defen[cs]e\s+evasion|evad\w+\s+(?:\w+\s+)?(?:detection|antivirus|edr|av|forensics|logging)" +
        @"|(?:disable|kill|tamper\s+with|clear|wipe)\s+(?:the\s+)?(?:antivirus|edr|defender|firewall|security\s+logs?|audit\s+logs?|event\s+logs?)" +
        @"|command[\s-]and[\s-]control|attacker[\s-]controlled|malicious|phishing|spoof\w*|shellcode" +
        @"|(?:(?:no)?sql|command|ldap|xpath|template|code|process|dll|os)\s+injection|inject\w*\s+(?:\w+\s+)?(?:malicious|code|shellcode|keystrokes|payloads?|commands?)" +
        @"|bypass\w*\s+(?:\w+\s+){0,2}?(?:authentication|security|restrictions|protections?|controls?|detection|uac|amsi|sandbox|mfa|2fa)" +
        @"|container\s+escape|escape\s+(?:\w+\s+)?(?:container|sandbox|jail)|jailbreak\w*|hijack\w*" +
        @"|(?:wipe|destroy|corrupt|shred)\w*\s+(?:\w+\s+){0,2}?(?:files?|disks?|data|backups?|drives?|logs?))\b" +
        @"|\brm\s+-(?:rf|fr)\s+/",
        Options)]
    private static partial Regex AttackVocabulary();

    private static readonly (string Code, Severity Severity, Func<Regex> Pattern, string Message)[] Rules =
    [
        (FindingCodes.HiddenDirective, Severity.High, IgnoreInstructions, "tells the model to ignore its instructions"),
        (FindingCodes.HiddenDirective, Severity.High, DirectiveTag, "directive tag aimed at the model"),
        (FindingCodes.HiddenDirective, Severity.High, BeforeUsingMust, "prerequisite imposed on the model"),
        (FindingCodes.HiddenDirective, Severity.High, ModelMust, "orders the model to act"),
        (FindingCodes.HiddenDirective, Severity.High, OverrideMarker, "system/admin override marker"),
        (FindingCodes.HiddenDirective, Severity.High, RunFollowingCommand, "tells the model to run a command"),
        (FindingCodes.ConcealFromUser, Severity.High, DoNotTellUser, "asks to keep something from the user"),
        (FindingCodes.ConcealFromUser, Severity.High, UserMustNotKnow, "asks to keep something from the user"),
        (FindingCodes.ConcealFromUser, Severity.High, WithoutUserKnowledge, "acts without the user's knowledge"),
        (FindingCodes.ConcealFromUser, Severity.High, Covertly, "acts covertly"),
        (FindingCodes.SensitiveFile, Severity.High, SensitivePath, "names a file that holds secrets or agent configuration"),
        (FindingCodes.DataExfiltration, Severity.Medium, DataLeavesMachine, "sends data to a remote or third party"),
        (FindingCodes.MaliciousCapability, Severity.Medium, AttackVocabulary, "describes an attack capability"),
    ];

    public static void Find(string text, List<Hit> hits)
    {
        foreach (var (code, severity, pattern, message) in Rules)
        {
            foreach (Match m in pattern().Matches(text))
            {
                var (start, end) = Sentence(text, m.Index, m.Index + m.Length);
                hits.Add(new(code, severity, start, end - start, "", $"{message} ('{m.Value.Trim()}')"));
            }
        }
    }

    /// <summary>The sentence or line around [start, end): what <c>strip</c> removes.</summary>
    private static (int Start, int End) Sentence(string text, int start, int end)
    {
        // Descriptions are often hard-wrapped docstrings: a single newline continues the sentence unless the next
        // line starts a list item, heading, quote, table row or code fence.
        static bool EndsSentence(string t, int i)
        {
            if (t[i] is '.' or '!' or '?')
            {
                return i + 1 == t.Length || char.IsWhiteSpace(t[i + 1]);
            }
            if (t[i] != '\n')
            {
                return false;
            }
            var j = i + 1;
            while (j < t.Length && t[j] is ' ' or '\t')
            {
                j++;
            }
            return j == t.Length || t[j] is '\n' or '-' or '*' or '#' or '>' or '|' or '`' or '<' || char.IsDigit(t[j]);
        }
        var s = start;
        while (s > 0 && !EndsSentence(text, s - 1))
        {
            s--;
        }
        while (s < start && text[s] is ' ' or '\t')
        {
            s++;
        }
        var e = end;
        while (e < text.Length && !EndsSentence(text, e))
        {
            e++;
        }
        if (e < text.Length && text[e] != '\n')
        {
            e++; // keep the newline, take the full stop
            while (e < text.Length && text[e] is ' ' or '\t')
            {
                e++; // and the space before the next sentence
            }
        }
        return (s, Math.Max(e, end));
    }
}
