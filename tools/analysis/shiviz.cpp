#include "tools/analysis/shiviz.h"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

namespace chunkex {
namespace {

uint64_t packed(EventRef ref) {
  return (static_cast<uint64_t>(ref.component) << 32) | ref.index;
}

// {"Server":3,"A":2}: the entries that are not 0, in component order.
std::string clock_json(const Run& run, const std::vector<uint32_t>& clock) {
  std::string text = "{";
  for (size_t c = 0; c < clock.size(); ++c) {
    if (clock[c] == 0) continue;
    if (text.size() > 1) text += ',';
    text += fmt::format("\"{}\":{}", run.components[c].name(), clock[c]);
  }
  text += '}';
  return text;
}

// One execution: the window's events in causal order, each with its clock.
std::string execution(const Run& run, const SpaceTime& picture) {
  std::unordered_map<uint64_t, uint64_t> sender_of;  // receive -> send
  std::unordered_map<uint64_t, std::vector<uint32_t>> sent_clock;
  for (const Message& m : picture.messages) {
    sender_of[packed(m.receive)] = packed(m.send);
    sent_clock[packed(m.send)];
  }
  std::vector<std::vector<uint32_t>> clocks(run.components.size(),
                                            std::vector<uint32_t>(run.components.size(), 0));
  std::string text;
  for (EventRef ref : picture.events) {
    std::vector<uint32_t>& clock = clocks[ref.component];
    ++clock[ref.component];
    auto sender = sender_of.find(packed(ref));
    if (sender != sender_of.end()) {
      const std::vector<uint32_t>& theirs = sent_clock.at(sender->second);
      for (size_t c = 0; c < clock.size(); ++c) clock[c] = std::max(clock[c], theirs[c]);
    }
    auto sent = sent_clock.find(packed(ref));
    if (sent != sent_clock.end()) sent->second = clock;
    const ComponentLog& log = run.components[ref.component];
    text += log.line(ref.index);
    text += '\n';
    text += log.name();
    text += ' ';
    text += clock_json(run, clock);
    text += '\n';
  }
  return text;
}

// Labels name the executions in ShiViz, so they must differ.
std::vector<std::string> labels_of(const std::vector<const Run*>& runs) {
  std::vector<std::string> labels;
  for (const Run* run : runs) {
    std::string label = run->label;
    while (std::find(labels.begin(), labels.end(), label) != labels.end()) label += " (again)";
    labels.push_back(label);
  }
  return labels;
}

}  // namespace

ShivizExport shiviz_export(const std::vector<const Run*>& runs,
                           const std::vector<RoundWindow>& windows, size_t events_max) {
  ShivizExport out;
  out.text = fmt::format("{}\n{}\n", kShivizRegex, kShivizDelimiter);
  std::vector<std::string> labels = labels_of(runs);
  for (size_t i = 0; i < runs.size(); ++i) {
    SpaceTime picture = space_time(*runs[i], windows[i].sections(), events_max);
    if (picture.capped) {
      out.notices.push_back(fmt::format(
          "{}: rounds {} hold more than {} events; the export stops after {}", runs[i]->label,
          windows[i].text(), events_max,
          picture.sections.empty() ? "none" : describe_section(picture.sections.back())));
    }
    out.text += fmt::format("=== {} ===\n", labels[i]);
    out.text += execution(*runs[i], picture);
  }
  return out;
}

}  // namespace chunkex
