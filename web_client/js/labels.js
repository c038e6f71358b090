// Labels for values that come from the server as ids (levels, directions, skills, acts).
import { t, tMaybe } from './i18n.js';

export const LEVELS = ['初级', '中级', '高级'];

export function levelLabel(level) {
  return tMaybe(`level.${level}`) || level;
}

export function directionLabel(direction) {
  return tMaybe(`direction.${direction}`) || direction;
}

export function skillLabel(skill) {
  return tMaybe(`skill.${skill}`) || skill.replace(/-/g, ' ');
}

export function actLabel(act) {
  return tMaybe(`act.${act}`) || act.replace(/_/g, ' ');
}

export function langName(code) {
  return tMaybe(`langname.${code}`) || code;
}

export function modeLabel(mode) {
  return t(mode === 'exam' ? 'mode.exam' : 'mode.practice');
}

export function endReasonLabel(reason) {
  if (!reason) return '';
  return tMaybe(`end_reason.${reason}`) || reason.replace(/_/g, ' ');
}
