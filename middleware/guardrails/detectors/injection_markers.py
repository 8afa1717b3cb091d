"""Chat-template and turn markers for the injection detector.

Inside a tool result these can only be there to make the model believe a new system or user turn
has started; an opening and a closing marker together fake a whole turn.
"""

from __future__ import annotations

from middleware.guardrails.detectors.injection_rules import Rule, rule, words

# Chat-template and turn markers: in a tool result they can only be there to fake a new turn.
ROLE_RULES: tuple[Rule, ...] = (
    rule(
        "role",
        2,
        r"<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|"
        r"end_header_id|begin_of_text|end|tool|developer)\|>",
        ("<\\|",),
        (0, 24),
    ),
    rule(
        "role",
        2,
        r"\[/?inst\]|<</?sys>>|<(?:start|end)_of_turn>",
        words(("[inst]", "[/inst]", "<<sys>>", "<</sys>>", "<start_of_turn>", "<end_of_turn>")),
        (2, 2),
    ),
    rule(
        "role",
        2,
        r"</?(?:system|system-reminder|system_reminder|system-prompt|system_prompt|system-message|"
        r"tool_result|tool_response|function_results?|assistant|developer|admin|instructions|"
        r"(?:system|user|human|assistant|developer)[_-](?:message|turn|input|instructions?))>",
        words(
            ("<", "</"),
            (
                "system",
                "tool_",
                "function_result",
                "assistant",
                "developer",
                "admin>",
                "instructions>",
                "user_",
                "user-",
                "human_",
                "human-",
            ),
        ),
        (0, 20),
    ),
    rule(
        "role",
        2,
        # also JSON-escaped inside a JSON string (the scanned view turns the backslash into a space)
        r"[\"']role[\\ ]?[\"']\s*:\s*[\\ ]?[\"'](?:system|assistant|developer)[\\ ]?[\"']",
        (r"[\"']role[\\ ]?[\"']",),
        (2, 24),
    ),
    rule(
        "role",
        2,
        r"(?m)^[ \t]*#{1,4}[ \t]*(?:system|assistant|developer|admin|end of system)\b[\w ]{0,20}(?::|#|$)",
        ("#[ \\t]*(?:system|assistant|developer|admin|end of system)",),
        (16, 32),
    ),
    rule(
        "role",
        2,
        r"(?m)^[ \t]*#{2,4}[ \t]*(?:instruction|response)[ \t]*:",
        ("##[ \\t]*(?:instruction|response)",),
        (16, 16),
    ),
    rule("role", 2, r"(?m)^[ \t]*(?:human|h)[ \t]*:[ \t]*\S", ("(?m:^[ \\t]*(?:human|h)[ \\t]*:)",), (2, 16)),
    rule("role", 1, r"\n[ \t]*\n[ \t]*assistant[ \t]*:", ("assistant[ \\t]*:",), (24, 4)),
    rule("role", 1, r"(?m)^[ \t]*system[ \t]*:(?=[ \t]*\S)", ("(?m:^[ \\t]*system[ \\t]*:)",), (2, 4)),
)
